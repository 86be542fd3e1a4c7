// What the mass line's views share (findings, the handout, events, learning):
// the names and addresses of the chapters whose records this node holds,
// times in an event's own zone and in the viewer's, and what this device
// remembers having said (an answer to a finding, "I'll come"), so the page
// never counts one person twice. Nothing remembered here leaves the device.
import { api, rule } from "./api.js?v=__V__";
import { getLang, t } from "./i18n.js?v=__V__";
import "./i18n-massline.js?v=__V__"; // the mass line's strings and error sentences
import { h } from "./dom.js?v=__V__";

const ANSWERED_KEY = "mutualaid.answered";
const GOING_KEY = "mutualaid.going";
const REMEMBERED = 300; // entries a device keeps of each, newest last

// The chapters this node holds a profile of: author key -> {name, url}.
export async function chapters() {
  try {
    const found = await api("GET", "/records", { query: { kind: "node", limit: rule("search", "limit").maximum } });
    return new Map(found.records.map((r) => [r.author, { name: r.name || "", url: webAddress((r.urls || [])[0]) }]));
  } catch {
    return new Map(); // without names a peer is shown by the start of its key
  }
}

// An http(s) address, or "" (never a javascript: or data: link from a record).
export function webAddress(url) {
  return typeof url === "string" && /^https?:\/\//i.test(url) ? url.replace(/\/+$/, "") : "";
}

// "From Riverside pantry" for a record another chapter wrote.
export function fromLabel(author, known) {
  const one = known.get(author);
  return one && one.name ? t("ml.from", { name: one.name }) : t("ml.fromKey", { key: author.slice(0, 12) });
}

// A link out of the page (a chapter's node, study materials): it opens apart and sends nothing back.
export function outLink(url, text) {
  const safe = webAddress(url) ? url : "";
  return safe ? h("a", { href: safe, rel: "noopener noreferrer", target: "_blank", dir: "auto" }, text || url) : h("span", { dir: "auto" }, text || url);
}

function remembered(key) {
  try {
    const list = JSON.parse(localStorage.getItem(key) || "[]");
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

function remember(key, entry) {
  const list = remembered(key).filter((e) => e[0] !== entry[0]);
  list.push(entry);
  try {
    localStorage.setItem(key, JSON.stringify(list.slice(-REMEMBERED)));
  } catch {
    // storage is off: remembered for this visit only
  }
}

// The answer this device gave to a finding, or "".
export function answeredHere(id) {
  const found = remembered(ANSWERED_KEY).find((e) => e[0] === id);
  return found ? found[1] : "";
}

export function rememberAnswer(id, answer) {
  remember(ANSWERED_KEY, [id, answer]);
}

// "I'll come" is remembered by the event's address (author and slot: an edit
// gives the event a new id) and the occurrence's date.
const goingKey = (event, date) => `${event.author}:${event.slot}:${date}`;

export function goingHere(event, date) {
  return remembered(GOING_KEY).some((e) => e[0] === goingKey(event, date));
}

export function rememberGoing(event, date) {
  remember(GOING_KEY, [goingKey(event, date), 1]);
}

export function viewerZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch {
    return "";
  }
}

// "Tue, 23 Feb 2027, 18:00 – 20:00" for an occurrence (UTC instants), in a zone.
export function span(start, end, zone) {
  const options = { weekday: "short", day: "numeric", month: "short", year: "numeric", hour: "numeric", minute: "2-digit", timeZone: zone };
  try {
    const format = new Intl.DateTimeFormat(getLang(), options);
    return format.formatRange ? format.formatRange(new Date(start), new Date(end)) : `${format.format(new Date(start))} – ${format.format(new Date(end))}`;
  } catch {
    return ""; // a zone the browser does not know
  }
}

// When an occurrence is: in the event's zone, and in the viewer's when that reads otherwise.
export function whenText(event, occurrence) {
  const there = span(occurrence.start, occurrence.end, event.tz) || occurrence.local.replace("T", " ");
  const zone = viewerZone();
  const lines = [h("span", { class: "there" }, t("ev.when", { when: there, zone: event.tz.replace(/_/g, " ") }))];
  const here = zone && zone !== event.tz ? span(occurrence.start, occurrence.end, zone) : "";
  if (here && here !== there) lines.push(h("span", { class: "here" }, t("ev.yourTime", { when: here })));
  return lines;
}

// A date alone ("23 Feb 2027"), in the page's language.
export function day(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleDateString(getLang(), { dateStyle: "medium" });
}

// The Monday an ISO week label ("2026-W48") starts on.
export function weekStart(label) {
  const m = /^(\d{4})-W(\d{2})$/.exec(label || "");
  if (!m) return null;
  const jan4 = new Date(Date.UTC(Number(m[1]), 0, 4));
  const monday = new Date(jan4.getTime() - ((jan4.getUTCDay() + 6) % 7) * 86400000);
  return new Date(monday.getTime() + (Number(m[2]) - 1) * 7 * 86400000);
}
