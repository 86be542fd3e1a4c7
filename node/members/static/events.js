// #/events : coming events, this chapter's and its neighbours' (labelled
// "From {chapter}"), soonest first: what each is, when (in the event's own
// time zone, and in the viewer's when that reads otherwise), where (a public
// place), the area, languages, what it offers so everyone can come, study
// materials, what is on its agenda, and "I'll come" per date (an anonymous
// count kept by the chapter's node; this device remembers having said so,
// so the page never counts one person twice). The calendar feeds
// (/calendar.ics, /calendar/{what}.ics) to subscribe to or download.
// Organizers publish, change and cancel events, and read members'
// suggestions (publish or drop each); members suggest an event.
// #/learn : the coming study groups and teach-ins, with their materials.
// #/event/{id} : one event.
import { NODE, api, rule } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import "./i18n-massline.js?v=__V__"; // this view's strings
import "./i18n-chapter.js?v=__V__"; // the chapter's error sentences (a card, a mandate)
import { copyText, errorText, field, h, languageName, notice, select } from "./dom.js?v=__V__";
import { clearInvalid, markInvalid, readOrMark, showRefusal } from "./forms.js?v=__V__";
import { asMember, confirmFirst, dateTime, getCard, organizerToken } from "./chapter.js?v=__V__";
import { areaChoices, areaLabel } from "./post.js?v=__V__";
import { chapters, day, fromLabel, goingHere, outLink, rememberGoing, span, whenText } from "./massline.js?v=__V__";
import { eventControl, eventForm, readEvent, ruleParts } from "./eventform.js?v=__V__";

const KINDS = rule("event", "what").enum || [];
const LEARN = ["study-group", "teach-in"].filter((k) => KINDS.includes(k));
const FIRST_DATES = 4; // dates shown before "more dates"

function subnav(current) {
  return h("nav", { class: "subnav no-print", "aria-label": t("ev.nav") },
    [["events", "#/events", t("ev.nav.events")], ["learn", "#/learn", t("ev.nav.learn")]].map(([name, href, label]) =>
      h("a", { href, "aria-current": name === current ? "page" : null }, label)));
}

export async function show(main, route, flash) {
  if (route.view === "event") return showOne(main, route);
  const learning = route.view === "learn";
  main.append(subnav(learning ? "learn" : "events"),
    h("h1", {}, t(learning ? "ev.learnTitle" : "ev.heading")), h("p", { class: "lead" }, t(learning ? "ev.learnLead" : "ev.lead")));
  if (flash) main.append(notice(flash, "ok"));
  const what = !learning && KINDS.includes(route.query && route.query.get("what")) ? route.query.get("what") : "";
  if (!learning) main.append(kindFilter(what));
  const list = h("div", { class: "event-list" });
  main.append(list);
  let found, known, token;
  try {
    [found, token] = await Promise.all([
      api("GET", "/events", { query: { what, days: rule("events", "days").maximum } }),
      organizerToken(),
    ]);
    known = await namesFor(found.events);
  } catch (err) {
    list.append(notice(errorText(err), "error"));
    return;
  }
  const shown = learning ? found.events.filter((e) => LEARN.includes(e.what)) : found.events;
  const again = (message) => { main.replaceChildren(); return show(main, route, message); };
  list.append(shown.length
    ? h("ul", { class: "cards events" }, shown.map((e) => h("li", {}, eventCard(e, known, token, again))))
    : h("p", {}, t(learning ? "ev.noLearning" : what ? "ev.noneOfKind" : "ev.none")));
  main.append(calendarSection(learning ? LEARN : KINDS, learning));
  if (learning) return;
  if (token) {
    main.append(await publishSection(token, again), await suggestionsSection(token, again));
  } else if (getCard()) {
    main.append(await suggestSection());
  } else {
    main.append(h("p", { class: "no-print" }, t("ev.membersSuggest"), " ", h("a", { href: "#/me" }, t("ev.toMe"))));
  }
}

// The chapters' names, asked for only when a neighbour's event is shown.
function namesFor(events) {
  return events.some((e) => !e.own) ? chapters() : Promise.resolve(new Map());
}

function kindFilter(what) {
  const chooser = select("what", [["", t("ev.allKinds")], ...KINDS.map((k) => [k, t(`ev.what.${k}`)])], what);
  chooser.id = "event-kind";
  chooser.addEventListener("change", () => { location.hash = chooser.value ? `#/events?what=${chooser.value}` : "#/events"; });
  return h("div", { class: "actions wrap no-print" }, h("label", { for: "event-kind" }, t("ev.kind")), chooser);
}

async function showOne(main, route) {
  main.append(subnav(""));
  let found, known, token;
  try {
    [found, token] = await Promise.all([
      api("GET", "/events", { query: { days: rule("events", "days").maximum } }),
      organizerToken(),
    ]);
    known = await namesFor(found.events);
  } catch (err) {
    main.append(h("h1", {}, t("ev.heading")), notice(errorText(err), "error"));
    return;
  }
  let event = found.events.find((e) => e.id.startsWith(route.id));
  if (!event) {
    try {
      event = await api("GET", `/records/${route.id}`);
      event.occurrences = [];
    } catch {
      event = null;
    }
  }
  if (!event || event.kind !== "event") {
    main.append(h("h1", {}, t("ev.heading")), notice(t("ev.notHeld"), "error"));
    return;
  }
  main.append(eventCard(event, known, token, () => { main.replaceChildren(); return showOne(main, route); }, 1));
}

// One event. level: its title's heading level (1 on its own page).
function eventCard(e, known, token, again, level = 2) {
  const cancelled = e.state === "cancelled";
  const access = (e.access || []).map((a) => t(`ev.access.${a}`));
  const facts = [
    repeatText(e.rrule),
    e.area ? areaLabel(e.area) : "",
    (e.languages || []).map(languageName).join(", "),
  ].filter(Boolean);
  const title = level === 1 ? h("h1", { dir: "auto" }, e.title) : h(`h${level}`, { class: "title", dir: "auto" }, h("a", { href: `#/event/${e.id}` }, e.title));
  return h("article", { class: `card event${cancelled ? " cancelled" : ""}` },
    h("p", { class: "badges" },
      h("span", { class: "badge kind" }, t(`ev.what.${e.what}`)),
      cancelled ? h("span", { class: "badge status" }, t("ev.cancelled")) : null),
    e.own ? null : h("p", { class: "eyebrow from", dir: "auto" }, fromLabel(e.author, known)),
    title,
    facts.length ? h("p", { class: "facts" }, facts.join(" · ")) : null,
    e.venue ? h("p", { class: "venue" }, h("strong", {}, t("ev.where")), " ", h("span", { dir: "auto" }, e.venue)) : null,
    e.details ? h("p", { class: "details", dir: "auto" }, e.details) : null,
    access.length ? h("p", { class: "access-notes" }, h("strong", {}, t("ev.offers")), " ", access.join(" · ")) : null,
    (e.materials || []).length ? h("div", { class: "materials" }, h("p", {}, h("strong", {}, t("ev.materialsTitle"))),
      h("ul", {}, e.materials.map((u) => h("li", {}, outLink(u))))) : null,
    (e.agenda || []).length ? agendaList(e.agenda) : null,
    occurrenceList(e, known, cancelled),
    e.own && token ? organizerTools(e, token, again) : null,
  );
}

// "Every week, 6 times", from the event's rule.
function repeatText(rrule) {
  if (!rrule) return "";
  const p = ruleParts(rrule);
  const every = tn(`ev.every.${p.FREQ}`, Number(p.INTERVAL || 1));
  if (p.COUNT) return `${every}, ${tn("ev.times", Number(p.COUNT))}`;
  if (p.UNTIL) return `${every}, ${t("ev.until.date", { date: day(`${p.UNTIL.slice(0, 4)}-${p.UNTIL.slice(4, 6)}-${p.UNTIL.slice(6, 8)}T12:00:00Z`) })}`;
  return every;
}

// What it will discuss: findings (their page) and decisions (the decision log), by title once loaded.
function agendaList(ids) {
  const list = h("ul", {}, ids.map((id) => {
    const item = h("li", {}, h("a", { href: `#/finding/${id}` }, t("ev.agendaItem", { id: id.slice(0, 12) })));
    api("GET", `/records/${id}`).then((r) => {
      item.replaceChildren(r.kind === "decision"
        ? h("a", { href: "#/decisions", dir: "auto" }, r.title)
        : h("a", { href: `#/finding/${id}`, dir: "auto" }, r.title));
    }).catch(() => {});
    return item;
  }));
  return h("div", { class: "agenda" }, h("p", {}, h("strong", {}, t("ev.agendaTitle"))), list);
}

// Its coming dates, each with "I'll come" (on the chapter's own node only).
function occurrenceList(e, known, cancelled) {
  const dates = e.occurrences || [];
  if (!dates.length) return h("p", { class: "facts" }, t("ev.noDates"));
  const one = known.get(e.author);
  const item = (o) => {
    const count = h("span", { class: "going-count" }, e.own ? tn("ev.going", o.going || 0) : "");
    let action = null;
    if (cancelled) action = null;
    else if (e.own && goingHere(e, o.date)) action = h("span", { class: "going-said" }, t("ev.youSaid"));
    else if (e.own) {
      action = h("button", { type: "button", class: "secondary going" }, t("ev.illCome"));
      action.setAttribute("aria-describedby", `when-${e.slot}-${o.date}`);
      action.addEventListener("click", async () => {
        action.disabled = true;
        try {
          const got = await api("POST", `/records/${e.id}/attend`, { body: { occurrence: o.date } });
          rememberGoing(e, o.date);
          count.textContent = tn("ev.going", got.going);
          const said = h("span", { class: "going-said", role: "status", tabindex: "-1" }, t("ev.youSaid"));
          action.replaceWith(said);
          said.focus();
        } catch (err) {
          action.disabled = false;
          action.after(notice(errorText(err), "error"));
        }
      });
    }
    return h("li", {}, h("p", { class: "when", id: `when-${e.slot}-${o.date}` }, whenText(e, o)),
      h("p", { class: "going-row" }, action, " ", count));
  };
  const first = dates.slice(0, FIRST_DATES), rest = dates.slice(FIRST_DATES);
  return h("div", { class: "dates" },
    h("ol", { class: "occurrences" }, first.map(item)),
    rest.length ? h("details", {}, h("summary", {}, tn("ev.moreDates", rest.length)), h("ol", { class: "occurrences", start: FIRST_DATES + 1 }, rest.map(item))) : null,
    !e.own && one && one.url && !cancelled ? h("p", { class: "facts" }, t("ev.comeThere", { name: one.name || "" }), " ",
      outLink(`${one.url}/#/event/${e.id}`, t("ev.comeThereLink"))) : null,
  );
}

// The calendar feeds: the address to subscribe to (an app keeps it up to date) and a download.
function calendarSection(kinds, learning) {
  const address = `${location.origin}/calendar.ics`;
  const box = h("input", { readonly: true, value: address, class: "link" });
  const copied = h("span", { role: "status", class: "copied" });
  const copy = h("button", { type: "button", class: "secondary" }, t("ev.copy"));
  copy.addEventListener("click", async () => { copied.textContent = (await copyText(box)) ? t("ev.copied") : t("ev.copyFailed"); });
  const kindLinks = h("ul", { class: "calendar-kinds" }, kinds.map((k) => h("li", {},
    h("span", {}, t(`ev.what.${k}`)), ": ",
    h("a", { href: `/calendar/${k}.ics`, download: `${k}.ics` }, t("ev.downloadKind")), " · ",
    h("span", { class: "link" }, `${location.origin}/calendar/${k}.ics`))));
  return h("section", { class: "calendar no-print", "aria-labelledby": "calendar-title" },
    h("h2", { id: "calendar-title" }, t("ev.calendar")),
    h("p", {}, t("ev.calendarLead")),
    learning ? null : field(t("ev.subscribe"), box, t("ev.subscribeHint")),
    learning ? null : h("p", { class: "actions wrap" }, copy, copied,
      h("a", { href: "/calendar.ics", download: "calendar.ics", class: "button secondary" }, t("ev.download"))),
    learning ? kindLinks : h("details", {}, h("summary", {}, t("ev.byKind")), kindLinks),
  );
}

// What an event may have on its agenda: the findings this node holds, this chapter's latest decisions.
async function agendaChoices() {
  const [findings, decisions] = await Promise.all([
    api("GET", "/findings", { query: { limit: rule("findings", "limit").maximum } }).catch(() => ({ findings: [] })),
    api("GET", "/records", { query: { kind: "decision", author: NODE.public_key, limit: 20 } }).catch(() => ({ records: [] })),
  ]);
  return [
    ...findings.findings.map((f) => [f.id, `${f.title} (${t("ev.findingOf", { date: day(f.created_at) })})`]),
    ...decisions.records.map((d) => [d.id, `${d.title} (${t("ev.decision")})`]),
  ];
}

// A form that sends an event's fields: said beside its field when something is to fix.
function wire(form, status, send) {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearInvalid(form);
    status.replaceChildren();
    const body = readOrMark(() => readEvent(form, form.dataset.editing === "1"), (name) => eventControl(form, name));
    if (body === null) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await send(body);
    } catch (err) {
      button.disabled = false;
      if (err.field === "rrule" && err.code === "invalid_event") {
        // A rule outside the subset: said in the member's words, the node's reason after it.
        clearInvalid(form);
        const said = errorText(err);
        markInvalid(eventControl(form, "rrule"), Array.isArray(said) ? [t("ev.badRule"), ...said.slice(1)] : t("ev.badRule"));
      } else showRefusal(form, status, err, (name) => eventControl(form, name));
    }
  });
}

async function publishSection(token, again) {
  const [areas, agenda] = await Promise.all([areaChoices(), agendaChoices()]);
  const form = eventForm(null, areas, agenda, t("ev.publish"));
  const status = h("div");
  wire(form, status, async (body) => {
    await api("POST", "/events", { body, token });
    await again(t("ev.published"));
  });
  return h("details", { class: "event-box no-print" }, h("summary", {}, t("ev.publishOpen")),
    notice(t("ev.publicWarning")), form, status);
}

async function suggestSection() {
  const [areas, agenda] = await Promise.all([areaChoices(), agendaChoices()]);
  const form = eventForm(null, areas, agenda, t("ev.suggest"));
  const status = h("div");
  const box = h("details", { class: "event-box no-print" }, h("summary", {}, t("ev.suggestOpen")),
    h("p", {}, t("ev.suggestLead")), notice(t("ev.publicWarning")), form, status);
  wire(form, status, async (body) => {
    await asMember("POST", "/events/suggestions", { body });
    const done = h("p", { class: "notice ok", role: "status", tabindex: "-1" }, t("ev.suggested"));
    form.replaceWith(done);
    done.focus();
  });
  return box;
}

// Members' suggestions, for the organizers: publish or drop each.
async function suggestionsSection(token, again) {
  const s = h("section", { class: "suggestions no-print", "aria-labelledby": "suggestions-title" },
    h("h2", { id: "suggestions-title" }, t("ev.suggestions")));
  let found;
  try {
    found = await api("GET", "/events/suggestions", { token });
  } catch (err) {
    s.append(notice(errorText(err), "error"));
    return s;
  }
  if (!found.suggestions.length) {
    s.append(h("p", {}, t("ev.noSuggestions")));
    return s;
  }
  s.append(h("ul", { class: "cards" }, found.suggestions.map((one) => {
    const e = one.event;
    const status = h("div");
    const publish = h("button", { type: "button" }, t("ev.publishSuggestion"));
    const drop = h("button", { type: "button", class: "secondary" }, t("ev.dropSuggestion"));
    publish.addEventListener("click", async () => {
      publish.disabled = drop.disabled = true;
      try {
        await api("POST", "/events", { body: e, token });
        await api("DELETE", `/events/suggestions/${one.n}`, { token });
        await again(t("ev.published"));
      } catch (err) {
        publish.disabled = drop.disabled = false;
        status.replaceChildren(notice(errorText(err), "error"));
      }
    });
    drop.addEventListener("click", async () => {
      drop.disabled = publish.disabled = true;
      try {
        await api("DELETE", `/events/suggestions/${one.n}`, { token });
        await again(t("ev.dropped"));
      } catch (err) {
        drop.disabled = publish.disabled = false;
        status.replaceChildren(notice(errorText(err), "error"));
      }
    });
    return h("li", {}, h("article", { class: "card suggestion" },
      h("p", { class: "badges" }, h("span", { class: "badge kind" }, t(`ev.what.${e.what}`))),
      h("h3", { class: "title", dir: "auto" }, e.title),
      h("p", { class: "facts" }, t("ev.suggestedBy", { name: one.member, date: dateTime(one.at) })),
      // Wall-clock times in the event's zone: read as UTC, so the browser's own zone does not move them.
      h("p", { class: "facts" }, t("ev.when", { when: span(`${e.start}:00Z`, `${e.end}:00Z`, "UTC"), zone: e.tz.replace(/_/g, " ") }),
        e.rrule ? ` · ${repeatText(e.rrule)}` : ""),
      e.venue ? h("p", {}, h("strong", {}, t("ev.where")), " ", h("span", { dir: "auto" }, e.venue)) : null,
      e.details ? h("p", { class: "details", dir: "auto" }, e.details) : null,
      h("div", { class: "actions" }, publish, drop), status));
  })));
  return s;
}

// For this chapter's organizers: change the event, or cancel it (asked first).
function organizerTools(e, token, again) {
  const holder = h("div", { class: "organizer-tools no-print" });
  const row = h("div", { class: "actions" });
  if (e.state !== "cancelled") {
    const cancel = h("button", { type: "button", class: "danger" }, t("ev.cancel"));
    cancel.addEventListener("click", () => confirmFirst(row, cancel, t("ev.cancelQuestion"), t("ev.cancelYes"), async () => {
      try {
        await api("PATCH", `/events/${e.id}`, { body: { state: "cancelled" }, token });
        await again(t("ev.cancelledDone"));
      } catch (err) {
        row.after(notice(errorText(err), "error"));
      }
    }, true));
    row.append(cancel);
  }
  const edit = h("details", { class: "event-box" }, h("summary", {}, t("ev.change")));
  edit.addEventListener("toggle", async () => {
    if (!edit.open || edit.querySelector("form")) return;
    const [areas, agenda] = await Promise.all([areaChoices(), agendaChoices()]);
    const form = eventForm(e, areas, agenda, t("ev.save"));
    form.dataset.editing = "1";
    const status = h("div");
    wire(form, status, async (body) => {
      await api("PATCH", `/events/${e.id}`, { body, token });
      await again(t("ev.changed"));
    });
    edit.append(notice(t("ev.publicWarning")), form, status);
  });
  holder.append(edit, row);
  return holder;
}
