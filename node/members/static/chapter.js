// What the chapter's views share: the member card this device keeps, signing
// in with it, its QR code, the chapter's own navigation, a confirm step, and
// the words for a proposal's change, its choices and its times.
//
// The card is the member: whoever holds it acts as them. The page keeps it in
// localStorage (key mutualaid.card) on the device where its member joined or
// signed in, sends it only as "Authorization: Bearer" to this node's API, and
// never puts it in a URL it keeps (#/card/... is dropped from the address bar
// at once).
import { NODE, api, categoryName } from "./api.js?v=__V__";
import { getLang, hasKey, t, tn } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // the chapter's strings
import { askFirst, copyText, errorText, field, h, notice } from "./dom.js?v=__V__";
import { FieldError, clearInvalid, markInvalid } from "./forms.js?v=__V__";

const CARD_KEY = "mutualaid.card";
const ADMIN_KEY = "mutualaid.admin";

// The operator's admin token, typed on #/organizer during the founding period:
// kept in sessionStorage only (gone when the tab closes).
export function adminToken() {
  try {
    return sessionStorage.getItem(ADMIN_KEY) || "";
  } catch {
    return "";
  }
}

export function setAdminToken(token) {
  try {
    if (token) sessionStorage.setItem(ADMIN_KEY, token);
    else sessionStorage.removeItem(ADMIN_KEY);
  } catch {
    // storage is off: the token is not kept
  }
}

// Who acts as organizer from this device, or "": during the founding period
// the admin token when one was typed, else the card this device keeps when it
// holds a live mandate (asked of the node: GET /members/me).
export async function organizerToken() {
  const admin = NODE.chapter && NODE.chapter.founding ? adminToken() : "";
  if (admin) return admin;
  const card = getCard();
  if (!card) return "";
  try {
    const me = await api("GET", "/members/me", { token: card });
    return me.mandate ? card : "";
  } catch {
    return "";
  }
}

export function getCard() {
  try {
    return localStorage.getItem(CARD_KEY) || "";
  } catch {
    return "";
  }
}

export function setCard(card) {
  try {
    localStorage.setItem(CARD_KEY, card);
  } catch {
    // storage is off: the card works for this visit only
  }
}

export function forgetCard() {
  try {
    localStorage.removeItem(CARD_KEY);
  } catch {
    // nothing kept
  }
}

// A call as the member whose card this device keeps.
export function asMember(method, path, options = {}) {
  return api(method, path, { ...options, token: getCard() });
}

// The chapter's views, under the main navigation: proposals, decisions, the roll, my card, the organizers.
const SECTIONS = [["proposals", "#/proposals"], ["decisions", "#/decisions"], ["roll", "#/roll"], ["me", "#/me"], ["organizer", "#/organizer"]];
export function chapterNav(current) {
  return h("nav", { class: "subnav no-print", "aria-label": t("ch.nav") },
    SECTIONS.map(([name, href]) => h("a", { href, "aria-current": name === current ? "page" : null }, t(`ch.nav.${name}`))));
}

// "Sign in with your card": for a device that keeps none (or one no longer valid).
// done() runs once the node accepted the card and this device keeps it.
export function signInForm(done) {
  const input = h("input", { name: "card", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true });
  const form = h("form", { class: "login", novalidate: true },
    field(t("card.field"), input, t("card.fieldHint")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("card.signIn"))),
    h("p", {}, t("card.noCard"), " ", h("a", { href: "#/join" }, t("card.joinLink"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearInvalid(form);
    const card = input.value.trim();
    if (!card) {
      markInvalid(input, t("card.needCard"));
      return;
    }
    try {
      await api("GET", "/members/me", { token: card });
    } catch (err) {
      markInvalid(input, errorText(err));
      return;
    }
    setCard(card);
    done();
  });
  return form;
}

// Whether a failed member call means this device's card no longer works
// (replaced, retired, or its member left): then it is forgotten here.
export function cardRefused(err) {
  if (err && err.code === "card_invalid") {
    forgetCard();
    return true;
  }
  return false;
}

// A chapter view's answer when it has no card to act with, or its card was refused.
export function needCard(main, again, err) {
  main.append(
    err ? notice(errorText(err), "error") : h("p", { class: "lead" }, t("card.needed")),
    signInForm(() => {
      main.replaceChildren();
      again();
    }),
  );
}

// The card as a QR code of the address that signs it in on another device
// (the node draws it: an SVG, shown as a data: image).
export async function qrImage(card) {
  let response;
  try {
    response = await fetch("/api/v1/members/me/qr", {
      headers: { Authorization: `Bearer ${card}` },
      cache: "no-store",
      credentials: "same-origin",
      referrerPolicy: "no-referrer",
    });
  } catch {
    return null;
  }
  if (!response.ok) return null;
  const bytes = new TextEncoder().encode(await response.text());
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return h("img", { class: "qr", src: `data:image/svg+xml;base64,${btoa(binary)}`, alt: t("card.qrAlt") });
}

// The card, shown whole: its text, its QR code, what it is and a print button.
// Printing keeps only this box (app.css).
export async function cardBox(card, headingId = "card-title") {
  // Shown as text that wraps (a phone is narrower than a card); copied from a hidden field.
  const text = h("input", { readonly: true, value: card, class: "sr-only", tabindex: "-1", "aria-hidden": "true" });
  const copied = h("span", { role: "status", class: "copied" });
  const copy = h("button", { type: "button", class: "secondary" }, t("card.copy"));
  copy.addEventListener("click", async () => {
    copied.textContent = (await copyText(text)) ? t("card.copied") : t("card.copyFailed");
  });
  const print = h("button", { type: "button" }, t("card.print"));
  print.addEventListener("click", () => window.print());
  return h("section", { class: "member-card", "aria-labelledby": headingId },
    h("h2", { id: headingId }, t("card.title")),
    h("p", { class: "card-text" }, card), text,
    await qrImage(card),
    h("p", { class: "important" }, t("card.holder")),
    h("p", {}, t("card.kept")),
    h("p", { class: "actions no-print" }, print, copy, copied),
  );
}

// The shared asking step (dom.js), with the chapter views' "No".
export function confirmFirst(row, button, question, yesLabel, go, danger = false) {
  askFirst(row, button, question, yesLabel, t("ch.no"), go, danger);
}

// "in 3 days", "hace 2 horas": a time from now, in the page's language.
export function fromNow(iso) {
  const seconds = (new Date(iso).getTime() - Date.now()) / 1000;
  const abs = Math.abs(seconds);
  const [value, unit] = abs < 3600 ? [seconds / 60, "minute"] : abs < 172800 ? [seconds / 3600, "hour"] : [seconds / 86400, "day"];
  return new Intl.RelativeTimeFormat(getLang(), { numeric: "auto" }).format(Math.round(value), unit);
}

export function dateTime(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString(getLang(), { dateStyle: "medium", timeStyle: "short" });
}

// A number of minutes in the largest whole unit: "7 days", "90 minutes".
export function duration(minutes) {
  if (minutes % 1440 === 0) return tn("dur.days", minutes / 1440);
  if (minutes % 60 === 0) return tn("dur.hours", minutes / 60);
  return tn("dur.minutes", minutes);
}

export const choiceName = (c) => t(`choice.${c}`);

// One setting's value in words (a threshold by its name, a closing time as a duration).
export function settingValue(name, value) {
  if (name === "threshold") return t(`threshold.${value}`);
  if (name === "closes_in_minutes") return duration(Number(value));
  if (name === "quorum") return `${value} %`;
  return Number(value).toLocaleString(getLang());
}

// What a proposal (or a decision record) changes, in the member's words. A
// decision record's effect names its fields with dashes and never a member.
export function changeText(type, effect, memberName) {
  const e = {};
  for (const [k, v] of Object.entries(effect || {})) e[k.replace(/-/g, "_")] = v;
  const who = memberName || t("change.someone");
  switch (type) {
    case "categories": {
      const name = e[`name_${getLang()}`] || e.name_en || categoryName(e.slug);
      return t(`change.categories.${e.action}`, { slug: e.slug, name, old: categoryName(e.slug) });
    }
    case "peering":
      return t(`change.peering.${e.action}`, { url: e.url || "" });
    case "organizers":
      if (e.action === "grant" && e.term_days) return t("change.organizers.grantFor", { who, days: e.term_days });
      return t(`change.organizers.${e.action}`, { who });
    case "member":
      return t("change.member.retire", { who });
    case "settings":
      return t("change.settings", {
        list: Object.entries(e).filter(([k]) => hasKey(`setting.${k}`)).map(([k, v]) => `${t(`setting.${k}`)}: ${settingValue(k, v)}`).join("; "),
      });
    case "removal":
      return t("change.removal.reverse", { id: String(e.record_id || "").slice(0, 12) });
    default:
      return t("change.text");
  }
}

// A ballot in words: its choice, or a ranking as the options in order.
export function ballotText(ballot, options) {
  if (!ballot) return "";
  if (ballot.ranking) {
    if (!ballot.ranking.length) return choiceName("abstain");
    return ballot.ranking.map((n, i) => `${i + 1}. ${options[n - 1] ?? n}`).join(", ");
  }
  return choiceName(ballot.choice);
}

// The counts of a result or a decision: "4 agree · 1 abstain", or first preferences by option.
// Choices in the node's order (agree first), options by their number.
export function countsText(counts, options) {
  const order = (NODE.chapter && NODE.chapter.choices) || [];
  const rank = (k) => {
    const option = /(\d+)$/.exec(k);
    return order.includes(k) ? order.indexOf(k) : option ? order.length + Number(option[1]) : Infinity;
  };
  return Object.entries(counts || {}).sort(([a], [b]) => rank(a) - rank(b)).map(([k, n]) => {
    const option = /^(?:option-)?(\d+)$/.exec(k);
    const label = option ? options[Number(option[1]) - 1] ?? k : choiceName(k);
    return `${label}: ${Number(n).toLocaleString(getLang())}`;
  }).join(" · ");
}

// A field of a form the node declares (NODE.forms[form][name]), checked as the
// node would: required, its length and its pattern. Returns the trimmed text.
export function checkedText(control, spec, label) {
  const value = control.value.trim();
  if (!value) {
    if (spec.required) throw new FieldError(control.name, t("ch.required", { field: label }));
    return "";
  }
  if (spec.maxLength !== undefined && [...value].length > spec.maxLength) {
    throw new FieldError(control.name, t("ch.tooLong", { field: label, count: spec.maxLength }));
  }
  if (spec.pattern && !new RegExp(spec.pattern, "u").test(value)) throw new FieldError(control.name, t("ch.badText", { field: label }));
  return value;
}
