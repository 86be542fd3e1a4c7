// Findings: what the organizers read in the community report, returned to
// the community (the mass line), and the community's answer.
//   On #/report, "What we heard" above the charts: every finding this node
//   holds, this chapter's first, then its neighbours' labelled "From
//   {chapter}"; each with its text, the figures it cites (as the report
//   published them: rounded to 5, "fewer than 5" for 1 to 4), its period,
//   the answers' counts (rounded the same way), an answer form ("Did we get
//   this right?", this chapter's findings only: answers go to the chapter
//   that wrote one), and its chain: the report, the finding it revises, the
//   answers, the finding that revised it, the events and decisions that act
//   on it. Organizers also get "Write a finding from these figures".
//   #/finding/{id}: one finding, with the notes left with answers for the
//   organizers (only they read them; the node deletes them after NODE.note_days).
//   #/finding/{id}/print[?lang=es]: a one-page handout to print, in English or
//   Spanish, saying where to answer.
import { NODE, api, categoryName, patternOf, rule } from "./api.js?v=__V__";
import { getLang, inLanguage, t } from "./i18n.js?v=__V__";
import "./i18n-views.js?v=__V__"; // the report's words (needs, offers, "fewer than 5")
import "./i18n-massline.js?v=__V__"; // this view's strings
import { errorText, field, h, languageName, notice, select } from "./dom.js?v=__V__";
import { FieldError, clearInvalid, markInvalid, readOrMark, showRefusal } from "./forms.js?v=__V__";
import { countText } from "./charts.js?v=__V__";
import { dateTime, organizerToken } from "./chapter.js?v=__V__";
import { answeredHere, chapters, day, fromLabel, outLink, rememberAnswer, weekStart } from "./massline.js?v=__V__";

const F = (name) => rule("finding", name);
const ANSWERS = rule("answer", "answer").enum || [];
const LANGUAGE = patternOf(F("languages").items);
const SHORT_ID = 12; // characters of an id a printed address carries (the node takes 8 or more)

// Everything a finding's card links to: the findings held (for the chain),
// the chapters' names, the coming events (and which findings are on their
// agenda), and the events and decisions the findings name as acting on them.
export async function findingContext() {
  const [found, coming] = await Promise.all([
    api("GET", "/findings", { query: { limit: rule("findings", "limit").maximum } }),
    api("GET", "/events", { query: { days: rule("events", "days").maximum } }).catch(() => ({ events: [] })),
  ]);
  const known = found.findings.some((f) => !f.own) ? await chapters() : new Map(); // names for the neighbours' only
  const byId = new Map(found.findings.map((f) => [f.id, f]));
  const records = new Map(coming.events.map((e) => [e.id, e]));
  const agendaOf = new Map();
  for (const e of coming.events) for (const id of e.agenda || []) agendaOf.set(id, [...(agendaOf.get(id) || []), e]);
  const wanted = [...new Set(found.findings.flatMap((f) => f.acts || []))].filter((id) => !records.has(id));
  await Promise.all(wanted.map(async (id) => {
    try {
      records.set(id, await api("GET", `/records/${id}`));
    } catch {
      records.set(id, null); // over, or replaced by a newer version
    }
  }));
  return { findings: found.findings, byId, known, records, agendaOf, events: coming.events };
}

// "What we heard": every finding held, this chapter's first (newest first each).
export function findingList(ctx, token) {
  if (!ctx.findings.length) return h("p", {}, t("fi.none"));
  const ordered = [...ctx.findings.filter((f) => f.own), ...ctx.findings.filter((f) => !f.own)];
  return h("ul", { class: "findings" }, ordered.map((f) => h("li", {}, findingCard(f, ctx, { token }))));
}

// One finding. level: its title's heading level; full: the finding's own view (its title is the h1).
export function findingCard(f, ctx, { level = 3, full = false } = {}) {
  const lang = f.languages && f.languages.length === 1 ? f.languages[0] : null;
  const later = f.revised_by && ctx.byId.get(f.revised_by);
  const title = full
    ? h("h1", { dir: "auto", lang }, f.title)
    : h(`h${level}`, { class: "title", dir: "auto", lang }, h("a", { href: `#/finding/${f.id}` }, f.title));
  const counts = h("div", { class: "answer-counts" });
  const drawCounts = () => counts.replaceChildren(...answerCounts(f));
  if (f.own) drawCounts();
  return h("article", { class: `finding${f.revised_by ? " revised" : ""}${f.own ? "" : " peer"}` },
    f.own ? null : h("p", { class: "eyebrow from", dir: "auto" }, fromLabel(f.author, ctx.known)),
    title,
    f.revised_by ? h("p", { class: "notice revised-note" }, t("fi.revisedNote"), " ",
      h("a", { href: `#/finding/${f.revised_by}`, dir: "auto" }, later ? later.title : t("fi.laterFinding"))) : null,
    h("p", { class: "facts" }, [
      t("fi.period", { weeks: f.weeks, date: day(f.as_of) }),
      t("fi.written", { date: day(f.created_at) }),
      (f.languages || []).map(languageName).join(", "),
    ].filter(Boolean).join(" · ")),
    h("p", { class: "finding-text", dir: "auto", lang }, f.text),
    figuresTable(f),
    counts,
    f.own ? answerBox(f, drawCounts) : peerAnswer(f, ctx),
    chain(f, ctx),
    h("p", { class: "no-print handout-links" }, t("fi.handout"), " ",
      h("a", { href: `#/finding/${f.id}/print?lang=en`, lang: "en" }, "English"), " · ",
      h("a", { href: `#/finding/${f.id}/print?lang=es`, lang: "es" }, "Español")),
  );
}

// A cited report row in words: "All posts", a category's name, an area, a week.
function rowName(section, key) {
  if (section === "totals") return t("fi.row.all");
  if (section === "by_category") return categoryName(key);
  if (section === "by_area") return t("fi.row.area", { area: key });
  const monday = weekStart(key);
  return monday ? t("fi.row.week", { date: day(monday.toISOString()) }) : key;
}

let tableCount = 0;

// The figures a finding cites; the table scrolls in its own box on a narrow
// phone, so its title stands above it (a caption would scroll away with it).
export function figuresTable(f) {
  const id = `cited-${++tableCount}`;
  return h("div", { class: "cited-box" }, h("p", { class: "cited-title", id }, t("fi.figures")), h("div", { class: "table-wrap" }, h("table", { class: "cited", "aria-labelledby": id },
    h("thead", {}, h("tr", {},
      h("th", { scope: "col" }, t("fi.row")), h("th", { scope: "col" }, t("report.needs")),
      h("th", { scope: "col" }, t("report.offers")), h("th", { scope: "col" }, t("report.fulfilled")))),
    h("tbody", {}, (f.figures || []).map(([section, key, needs, offers, fulfilled]) => h("tr", {},
      h("th", { scope: "row", dir: "auto" }, rowName(section, key)),
      h("td", {}, countText(needs)), h("td", {}, countText(offers)), h("td", {}, countText(fulfilled))))),
  )));
}

// The answers so far, rounded as the report rounds ("fewer than 5" for 1 to 4).
function answerCounts(f) {
  const a = f.answers || {};
  return [
    h("p", { class: "answers-title" }, t("fi.answersSoFar")),
    h("ul", { class: "answers" }, ANSWERS.map((k) => h("li", { "data-answer": k },
      h("span", { class: "label" }, t(`fi.answer.${k}`)), ": ", h("span", { class: "count" }, countText(a[k]))))),
  ];
}

let formCount = 0;

// "Did we get this right?": anyone answers, once from this device.
function answerBox(f, drawCounts) {
  const given = answeredHere(f.id);
  if (given) return h("p", { class: "answered" }, t("fi.youAnswered", { answer: t(`fi.answer.${given}`) }));
  const n = ++formCount;
  const radios = ANSWERS.map((k, i) => h("label", { class: "choice" },
    h("input", { type: "radio", name: "answer", value: k, id: i === 0 ? `answer-${n}` : null }), " ", t(`fi.choice.${k}`)));
  const note = h("textarea", { name: "note", rows: 3, maxlength: rule("answer", "note").maxLength });
  const status = h("div");
  const send = h("button", { type: "submit" }, t("fi.send"));
  const form = h("form", { class: "answer no-print", novalidate: true, "aria-labelledby": `answer-q-${n}` },
    h("div", { class: "field" }, h("fieldset", {}, h("legend", { id: `answer-q-${n}` }, t("fi.question")), radios)),
    field(t("fi.note"), note, t("fi.noteHint", { days: NODE.note_days, count: rule("answer", "note").maxLength })),
    h("div", { class: "actions" }, send),
    status,
  );
  const first = radios[0].querySelector("input");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearInvalid(form);
    status.replaceChildren();
    const chosen = form.querySelector("input[name=answer]:checked");
    if (!chosen) {
      markInvalid(first, t("fi.chooseAnswer"));
      return;
    }
    const body = { answer: chosen.value };
    if (note.value.trim()) body.note = note.value.trim();
    send.disabled = true;
    try {
      const got = await api("POST", `/records/${f.id}/answers`, { body });
      f.answers = got.answers;
      rememberAnswer(f.id, chosen.value);
      drawCounts();
      const thanks = h("p", { class: "notice ok", role: "status", tabindex: "-1" }, t("fi.thanks"));
      form.replaceWith(thanks);
      thanks.focus();
    } catch (err) {
      send.disabled = false;
      showRefusal(form, status, err, (name) => (name === "answer" ? first : form.elements[name] || null));
    }
  });
  return form;
}

// A neighbour's finding: its answers go to the chapter that wrote it, on its node.
function peerAnswer(f, ctx) {
  const one = ctx.known.get(f.author);
  const name = one && one.name ? one.name : f.author.slice(0, 12);
  return h("p", { class: "peer-answer" }, t("fi.answerThere", { name }),
    one && one.url ? [" ", outLink(`${one.url}/#/finding/${f.id}`, t("fi.answerThereLink"))] : null);
}

// How the finding came about and what came of it: report -> finding -> answers -> revised finding -> acts.
function chain(f, ctx) {
  const earlier = f.revises && ctx.byId.get(f.revises);
  const later = f.revised_by && ctx.byId.get(f.revised_by);
  const steps = [
    h("li", {}, f.own ? h("a", { href: `#/report?weeks=${f.weeks}` }, t("fi.chain.report", { weeks: f.weeks, date: day(f.as_of) }))
      : t("fi.chain.report", { weeks: f.weeks, date: day(f.as_of) })),
  ];
  if (f.revises) {
    steps.push(h("li", {}, t("fi.chain.revises"), " ",
      h("a", { href: `#/finding/${f.revises}`, dir: "auto" }, earlier ? earlier.title : t("fi.earlierFinding"))));
  }
  steps.push(h("li", { "aria-current": "step" }, t("fi.chain.this", { date: day(f.created_at) })));
  if (f.own) steps.push(h("li", {}, t("fi.chain.answers")));
  const acting = (one) => [
    ...(one.acts || []).map((id) => h("li", {}, t("fi.chain.acts"), " ", actLink(id, ctx.records.get(id)))),
    ...(ctx.agendaOf.get(one.id) || []).map((e) => h("li", {}, t("fi.chain.agenda"), " ",
      h("a", { href: `#/event/${e.id}`, dir: "auto" }, e.title))),
  ];
  steps.push(...acting(f));
  // Forward along the revisions: each later finding, and what acts on it.
  for (let next = later, seen = new Set([f.id]); next && !seen.has(next.id); next = ctx.byId.get(next.revised_by)) {
    seen.add(next.id);
    steps.push(h("li", {}, t("fi.chain.revisedBy"), " ", h("a", { href: `#/finding/${next.id}`, dir: "auto" }, next.title)));
    steps.push(...acting(next));
  }
  if (f.revised_by && !later) {
    steps.push(h("li", {}, t("fi.chain.revisedBy"), " ", h("a", { href: `#/finding/${f.revised_by}` }, t("fi.laterFinding"))));
  }
  return h("div", { class: "chain" }, h("p", { class: "chain-title" }, t("fi.chain")), h("ol", {}, steps));
}

// An event or a decision acting on a finding, by its title.
function actLink(id, record) {
  if (!record) return h("span", {}, t("fi.actGone", { id: id.slice(0, 12) }));
  if (record.kind === "event") {
    return [h("a", { href: `#/event/${record.id}`, dir: "auto" }, record.title), ` (${t(`ev.what.${record.what}`)})`];
  }
  return [h("a", { href: "#/decisions", dir: "auto" }, record.title), ` (${t("fi.decision")})`];
}

// #/finding/{id} and #/finding/{id}/print: one finding by its id or the start of it.
export async function show(main, route) {
  let ctx;
  try {
    ctx = await findingContext();
  } catch (err) {
    main.append(h("h1", {}, t("fi.heard")), notice(errorText(err), "error"));
    return;
  }
  const f = ctx.findings.find((one) => one.id.startsWith(route.id));
  if (!f) {
    main.append(h("h1", {}, t("fi.heard")), notice(t("fi.notHeld"), "error"), h("p", {}, h("a", { href: "#/report" }, t("fi.toReport"))));
    return;
  }
  if (route.view === "handout") {
    const lang = route.query && ["en", "es"].includes(route.query.get("lang")) ? route.query.get("lang") : getLang();
    handout(main, f, ctx, lang);
    return;
  }
  main.append(h("p", { class: "eyebrow" }, h("a", { href: "#/report" }, t("fi.heard"))), findingCard(f, ctx, { full: true }));
  const token = f.own ? await organizerToken() : "";
  if (token) main.append(await notesSection(f, token));
}

// The notes left with answers: the organizers' only, never published, deleted after NODE.note_days.
async function notesSection(f, token) {
  const s = h("section", { class: "notes no-print", "aria-labelledby": "notes-title" },
    h("h2", { id: "notes-title" }, t("fi.notes")), h("p", { class: "lead" }, t("fi.notesLead", { days: NODE.note_days })));
  try {
    const found = await api("GET", `/findings/${f.id}/notes`, { token });
    s.append(found.notes.length
      ? h("ul", { class: "note-list" }, found.notes.map((n) => h("li", {},
        h("strong", {}, t(`fi.answer.${n.answer}`)), " · ", dateTime(n.at), h("br"), h("span", { class: "message", dir: "auto" }, n.note))))
      : h("p", {}, t("fi.noNotes")));
  } catch (err) {
    s.append(notice(errorText(err), "error"));
  }
  return s;
}

// The handout: one printed page for a meeting or a noticeboard, in English or
// Spanish whatever the page's language, saying where to answer.
function handout(main, f, ctx, lang) {
  const one = ctx.known.get(f.author);
  const chapter = f.own ? NODE.name : one && one.name ? one.name : "";
  const base = f.own ? location.origin : one && one.url ? one.url : "";
  const where = base ? `${base}/#/finding/${f.id.slice(0, SHORT_ID)}` : "";
  const print = h("button", { type: "button" }, t("fi.print"));
  print.addEventListener("click", () => window.print());
  const other = lang === "es" ? "en" : "es";
  main.append(h("div", { class: "no-print handout-tools" },
    h("p", { class: "lead" }, t("fi.handoutLead")),
    h("div", { class: "actions wrap" }, print,
      h("a", { href: `#/finding/${f.id}/print?lang=${other}`, lang: other, class: "button secondary" }, other === "es" ? "Imprimir en español" : "Print in English"),
      h("a", { href: `#/finding/${f.id}` }, t("fi.backToFinding"))),
  ));
  const flang = f.languages && f.languages.length === 1 ? f.languages[0] : null;
  main.append(inLanguage(lang, () => h("article", { class: "handout", lang },
    h("p", { class: "handout-chapter", dir: "auto" }, chapter ? t("fi.sheet.chapter", { name: chapter }) : t("fi.heard")),
    h("h1", { dir: "auto", lang: flang }, f.title),
    h("p", { class: "facts" }, t("fi.period", { weeks: f.weeks, date: day(f.as_of) }), " · ", t("fi.written", { date: day(f.created_at) })),
    h("p", { class: "finding-text", dir: "auto", lang: flang }, f.text),
    figuresTable(f),
    h("p", { class: "rounding" }, t("fi.sheet.rounding")),
    h("div", { class: "sheet-answer" },
      h("p", { class: "sheet-question" }, t("fi.question")),
      h("p", {}, t("fi.sheet.how")),
      where ? h("p", { class: "sheet-where" }, where) : null,
      h("p", {}, t("fi.sheet.private", { days: NODE.note_days })),
    ),
  )));
}

// "Write a finding from these figures": for organizers, on the report page.
// The rows to cite are the report's as shown (the node copies them as it
// published them); by default the totals and every category.
export function writeSection(report, ctx, token, done) {
  const most = F("cite").maxItems;
  const groups = [
    ["totals", t("report.totals"), [["all"]]],
    ["by_category", t("report.byCategory"), report.by_category.map((r) => [r.category, r])],
    ["by_area", t("report.byArea"), report.by_area.map((r) => [r.area, r])],
    ["by_week", t("report.byWeek"), report.by_week.map((r) => [r.week, r])],
  ];
  const tot = report.totals;
  const countsOf = (section, row) => (section === "totals" ? [tot.needs, tot.offers, tot.fulfilled_needs] : [row.needs, row.offers, row.fulfilled]);
  let chosen = 0;
  const rows = groups.filter(([, , list]) => list.length).map(([section, legend, list]) => h("fieldset", { class: "cite" },
    h("legend", {}, legend),
    list.map(([key, row]) => {
      const on = (section === "totals" || section === "by_category") && chosen++ < most;
      const [needs, offers, fulfilled] = countsOf(section, row);
      return h("label", { class: "choice" },
        h("input", { type: "checkbox", name: "cite", value: JSON.stringify([section, key]), checked: on }), " ",
        h("span", { dir: "auto" }, rowName(section, key)), " ",
        h("span", { class: "hint" }, t("fi.rowCounts", { needs: countText(needs), offers: countText(offers), fulfilled: countText(fulfilled) })));
    })));
  const own = ctx.findings.filter((f) => f.own);
  const acts = h("div", { class: "acts" });
  const form = h("form", { class: "write-finding", novalidate: true },
    h("p", {}, t("fi.write.lead", { weeks: report.weeks })),
    h("div", { class: "field cite-rows" }, h("p", { class: "hint", id: "cite-hint" }, t("fi.write.rowsHint", { count: most })), rows),
    field(t("fi.write.title"), h("input", { name: "title", required: true, maxlength: F("title").maxLength, autocomplete: "off" }), t("fi.write.titleHint")),
    field(t("fi.write.text"), h("textarea", { name: "text", required: true, rows: 6, maxlength: F("text").maxLength }), t("fi.write.textHint")),
    field(t("field.languages"), h("input", { name: "languages", value: getLang(), autocapitalize: "none", spellcheck: "false" }), t("fi.write.languagesHint")),
    own.length ? field(t("fi.write.revises"), select("revises", [["", t("fi.write.revisesNone")], ...own.map((f) => [f.id, `${f.title} (${day(f.created_at)})`])], ""), t("fi.write.revisesHint")) : null,
    acts,
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("fi.write.submit"))),
  );
  const status = h("div");
  actChoices(ctx).then((choices) => acts.replaceChildren(...choices)).catch(() => {});
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearInvalid(form);
    status.replaceChildren();
    const body = readOrMark(() => readFinding(form, report.weeks, most), (name) => controlFor(form, name));
    if (body === null) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const got = await api("POST", "/findings", { body, token });
      done(got.finding);
    } catch (err) {
      button.disabled = false;
      if (err.code === "not_in_report") markInvalid(controlFor(form, "cite"), errorText(err));
      else showRefusal(form, status, err, (name) => controlFor(form, name));
    }
  });
  return h("details", { class: "write-box no-print" }, h("summary", {}, t("fi.write")), form, status);
}

// The events and decisions an organizer may name as acting on the finding:
// this chapter's coming events and its latest decisions.
async function actChoices(ctx) {
  const ours = NODE.public_key;
  const events = ctx.events.filter((e) => e.author === ours);
  let decisions = [];
  try {
    decisions = (await api("GET", "/records", { query: { kind: "decision", author: ours, limit: 20 } })).records;
  } catch {
    decisions = [];
  }
  const options = [
    ...events.map((e) => [e.id, `${e.title} (${t(`ev.what.${e.what}`)})`]),
    ...decisions.map((d) => [d.id, `${d.title} (${t("fi.decision")})`]),
  ];
  if (!options.length) return [];
  return [h("fieldset", { class: "acts-choice" }, h("legend", {}, t("fi.write.acts")),
    h("p", { class: "hint" }, t("fi.write.actsHint")),
    options.map(([id, label]) => h("label", { class: "choice" }, h("input", { type: "checkbox", name: "acts", value: id }), " ", h("span", { dir: "auto" }, label))))];
}

function readFinding(form, weeks, most) {
  const value = (name) => form.elements[name].value.trim();
  const cite = [...form.querySelectorAll("input[name=cite]:checked")].map((c) => JSON.parse(c.value));
  if (!cite.length) throw new FieldError("cite", t("fi.write.noRows"));
  if (cite.length > most) throw new FieldError("cite", t("fi.write.tooManyRows", { count: most }));
  const body = { weeks, cite, title: value("title"), text: value("text") };
  if (!body.title) throw new FieldError("title", t("fi.write.needTitle"));
  if (!body.text) throw new FieldError("text", t("fi.write.needText"));
  const languages = [...new Set(value("languages").toLowerCase().split(/[\s,]+/).filter(Boolean))];
  if (languages.some((l) => !LANGUAGE.test(l))) throw new FieldError("languages", t("fi.write.badLanguage"));
  const languagesMost = F("languages").maxItems;
  if (languagesMost !== undefined && languages.length > languagesMost) throw new FieldError("languages", t("fi.write.badLanguage"));
  if (languages.length) body.languages = languages;
  if (form.elements.revises && value("revises")) body.revises = value("revises");
  const acts = [...form.querySelectorAll("input[name=acts]:checked")].map((c) => c.value);
  if (acts.length) body.acts = acts;
  return body;
}

function controlFor(form, name) {
  if (name === "cite") return form.querySelector("input[name=cite]");
  if (name === "acts") return form.querySelector("input[name=acts]") || form.querySelector("button[type=submit]");
  const found = form.elements[name];
  return found instanceof HTMLElement ? found : null;
}
