// The event form: publishing an event (organizers), suggesting one (members),
// changing one. Its start and end are wall-clock times in an IANA time zone
// (the browser's by default), and its repeat is built here as the RRULE the
// node takes (protocol/recurrence.py: DAILY, WEEKLY or MONTHLY, every N, on
// some weekdays, with COUNT or UNTIL), or typed as a rule. The venue is
// published, to neighbouring chapters too: the form says so (a public place,
// never a home). Every limit and choice is the node's (NODE.forms.event,
// NODE.recurrence); what to fix is said beside its field.
import { NODE, patternOf, rule } from "./api.js?v=__V__";
import { getLang, t } from "./i18n.js?v=__V__";
import "./i18n-massline.js?v=__V__"; // this form's strings
import { field, h, select } from "./dom.js?v=__V__";
import { FieldError } from "./forms.js?v=__V__";
import { areaLabel } from "./post.js?v=__V__";
import { viewerZone } from "./massline.js?v=__V__";

const E = (name) => rule("event", name);
const R = NODE.recurrence || { frequencies: [], days: [] };
const AREA = patternOf(E("area"));
const LANGUAGE = patternOf(E("languages").items);
const URL_RULE = patternOf(E("materials").items);
const ZONE = patternOf(E("tz"));
const RULE_SHAPE = patternOf(E("rrule"));
const CUSTOM = "custom";
const DEFAULT_COUNT = 4;

let formCount = 0;

function zones() {
  try {
    return Intl.supportedValuesOf("timeZone");
  } catch {
    return [];
  }
}

// A weekday code (MO...SU) of a local date-time "2027-02-23T18:00".
function weekday(local) {
  const d = new Date(`${local.slice(0, 10)}T00:00:00Z`);
  return isNaN(d) ? "" : R.days[(d.getUTCDay() + 6) % 7];
}

function dayName(code) {
  // 2024-01-01 was a Monday: the code's index is the day after it.
  const d = new Date(Date.UTC(2024, 0, 1 + R.days.indexOf(code)));
  return d.toLocaleDateString(getLang(), { weekday: "long", timeZone: "UTC" });
}

// A rule of the subset as its parts ({FREQ: "WEEKLY", COUNT: "6"...}).
export function ruleParts(text) {
  return Object.fromEntries(String(text || "").split(";").filter(Boolean).map((p) => p.split("=")));
}

// The form. values: an event (or a suggestion's fields) to start from; areas: the chapter's;
// agenda: [[id, label], ...] the findings and decisions it may discuss; submit: its button's words.
export function eventForm(values, areas, agenda, submit) {
  const v = values || {};
  const n = ++formCount;
  const id = (name) => `ev${n}-${name}`;
  const rrule = ruleParts(v.rrule);
  const simple = !v.rrule || R.frequencies.includes(rrule.FREQ);
  const freq = h("select", { name: "freq", id: id("freq") },
    h("option", { value: "" }, t("ev.freq.none")),
    R.frequencies.map((f) => h("option", { value: f }, t(`ev.freq.${f}`))),
    h("option", { value: CUSTOM }, t("ev.freq.custom")));
  freq.value = v.rrule ? (simple ? rrule.FREQ : CUSTOM) : "";
  const interval = h("input", { type: "number", name: "interval", min: 1, max: R.max_interval, value: rrule.INTERVAL || 1, inputmode: "numeric" });
  const chosenDays = rrule.BYDAY ? rrule.BYDAY.split(",") : v.start ? [weekday(v.start)] : [];
  const days = h("fieldset", { class: "days" }, h("legend", {}, t("ev.days")),
    R.days.map((d) => h("label", { class: "choice inline" }, h("input", { type: "checkbox", name: "days", value: d, checked: chosenDays.includes(d) }), " ", dayName(d))));
  const count = h("input", { type: "number", name: "count", min: 1, max: R.max_occurrences, value: rrule.COUNT || DEFAULT_COUNT, inputmode: "numeric" });
  const until = h("input", { type: "date", name: "until", value: rrule.UNTIL ? `${rrule.UNTIL.slice(0, 4)}-${rrule.UNTIL.slice(4, 6)}-${rrule.UNTIL.slice(6, 8)}` : "" });
  const ends = h("fieldset", { class: "ends" }, h("legend", {}, t("ev.ends")),
    h("label", { class: "choice" }, h("input", { type: "radio", name: "ends", value: "count", checked: !rrule.UNTIL }), " ", t("ev.endsAfter")),
    field(t("ev.count"), count),
    h("label", { class: "choice" }, h("input", { type: "radio", name: "ends", value: "until", checked: Boolean(rrule.UNTIL) }), " ", t("ev.endsOn")),
    field(t("ev.until"), until));
  const custom = h("input", { name: "rrule", value: simple ? "" : v.rrule || "", maxlength: E("rrule").maxLength, autocapitalize: "characters", spellcheck: "false", autocomplete: "off" });
  const customField = field(t("ev.rule"), custom, t("ev.ruleHint"));
  const repeatBox = h("div", { class: "repeat" },
    field(t("ev.interval"), interval, t("ev.intervalHint")), days, ends);
  const syncRepeat = () => {
    repeatBox.hidden = !R.frequencies.includes(freq.value);
    days.hidden = freq.value !== "WEEKLY";
    customField.hidden = freq.value !== CUSTOM;
  };
  freq.addEventListener("change", syncRepeat);
  const start = h("input", { type: "datetime-local", name: "start", required: true, value: v.start || "" });
  const end = h("input", { type: "datetime-local", name: "end", required: true, value: v.end || "" });
  start.addEventListener("change", () => {
    // A weekly repeat starts on the start's day unless days were chosen.
    if (!form.querySelector("input[name=days]:checked") && start.value) {
      const box = form.querySelector(`input[name=days][value=${weekday(start.value)}]`);
      if (box) box.checked = true;
    }
  });
  const zoneList = h("datalist", { id: id("zones") }, zones().map((z) => h("option", { value: z })));
  const zone = h("input", { name: "tz", required: true, list: zoneList.id, value: v.tz || viewerZone(), autocapitalize: "none", spellcheck: "false", autocomplete: "off" });
  const current = v.area || "";
  const areaSelect = areas.length
    ? select("area_choice", [...areas.map((a) => [a, areaLabel(a)]), ["", t("post.areaOther")]], areas.includes(current) || !current ? current || areas[0] : "")
    : null;
  const areaText = h("input", { name: "area_code", value: areaSelect && areas.includes(current) ? "" : current, autocapitalize: "none", spellcheck: "false", autocomplete: "off" });
  const areaTextField = field(t("post.areaCode"), areaText, t("ev.areaCodeHint"));
  if (areaSelect) {
    const syncArea = () => { areaTextField.hidden = areaSelect.value !== ""; };
    areaSelect.addEventListener("change", syncArea);
    syncArea();
  }
  const access = E("access").items && E("access").items.enum ? E("access").items.enum : [];
  const form = h("form", { class: "event-form", novalidate: true },
    field(t("ev.title"), h("input", { name: "title", required: true, maxlength: E("title").maxLength, value: v.title || "", autocomplete: "off" })),
    field(t("ev.what"), select("what", (E("what").enum || []).map((k) => [k, t(`ev.what.${k}`)]), v.what || (E("what").enum || [])[0])),
    h("div", { class: "grid" },
      field(t("ev.start"), start),
      field(t("ev.end"), end, t("ev.endHint"))),
    field(t("ev.tz"), zone, t("ev.tzHint")), zoneList,
    field(t("ev.repeat"), freq), repeatBox, customField,
    field(t("ev.venue"), h("input", { name: "venue", maxlength: E("venue").maxLength, value: v.venue || "", autocomplete: "off" }), t("ev.venueHint")),
    areaSelect ? field(t("field.area"), areaSelect, t("ev.areaHint")) : null,
    areaSelect ? areaTextField : field(t("field.area"), areaText, t("ev.areaCodeHint")),
    field(t("ev.details"), h("textarea", { name: "details", rows: 4, maxlength: E("details").maxLength, value: v.details || "" }), t("ev.detailsHint")),
    field(t("field.languages"), h("input", { name: "languages", value: (v.languages || [getLang()]).join(", "), autocapitalize: "none", spellcheck: "false" }), t("ev.languagesHint")),
    access.length ? h("fieldset", { class: "access" }, h("legend", {}, t("ev.access")),
      access.map((a) => h("label", { class: "choice" }, h("input", { type: "checkbox", name: "access", value: a, checked: (v.access || []).includes(a) }), " ", t(`ev.access.${a}`)))) : null,
    field(t("ev.materials"), h("textarea", { name: "materials", rows: 3, value: (v.materials || []).join("\n"), autocapitalize: "none", spellcheck: "false" }), t("ev.materialsHint", { count: E("materials").maxItems })),
    agenda.length ? h("fieldset", { class: "agenda-choice" }, h("legend", {}, t("ev.agenda")),
      h("p", { class: "hint" }, t("ev.agendaHint")),
      agenda.map(([value, label]) => h("label", { class: "choice" },
        h("input", { type: "checkbox", name: "agenda", value, checked: (v.agenda || []).includes(value) }), " ", h("span", { dir: "auto" }, label)))) : null,
    h("div", { class: "actions" }, h("button", { type: "submit" }, submit)),
  );
  syncRepeat();
  return form;
}

// The form's values as the API's body; throws a FieldError naming what to fix.
// editing: optional fields left empty are sent as null (removed).
export function readEvent(form, editing = false) {
  const value = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
  const body = { title: value("title"), what: value("what"), start: value("start"), end: value("end"), tz: value("tz") };
  if (!body.title) throw new FieldError("title", t("ev.needTitle"));
  if (!body.start) throw new FieldError("start", t("ev.needStart"));
  if (!body.end) throw new FieldError("end", t("ev.needEnd"));
  const begins = Date.parse(`${body.start}:00Z`), ends = Date.parse(`${body.end}:00Z`);
  if (!(ends > begins)) throw new FieldError("end", t("ev.endBeforeStart"));
  if (ends - begins > 86400000) throw new FieldError("end", t("ev.tooLong"));
  const known = zones();
  if (!ZONE.test(body.tz) || (known.length && !known.includes(body.tz) && body.tz !== "UTC")) throw new FieldError("tz", t("ev.badZone"));
  const repeat = readRule(form, body.start);
  const choice = form.elements.area_choice ? form.elements.area_choice.value : "";
  const area = (choice || value("area_code")).toLowerCase();
  if (area && !AREA.test(area)) throw new FieldError("area", t("post.badArea"));
  if (area || editing) body.area = area || null; // none: the node places it in the area it serves, if any
  const languages = [...new Set(value("languages").toLowerCase().split(/[\s,]+/).filter(Boolean))];
  if (languages.some((l) => !LANGUAGE.test(l)) || languages.length > (E("languages").maxItems ?? Infinity)) {
    throw new FieldError("languages", t("post.badLanguage"));
  }
  const materials = value("materials").split(/\s+/).filter(Boolean);
  if (materials.some((u) => !URL_RULE.test(u))) throw new FieldError("materials", t("ev.badMaterial"));
  if (materials.length > (E("materials").maxItems ?? Infinity)) throw new FieldError("materials", t("ev.tooManyMaterials", { count: E("materials").maxItems }));
  const checked = (name) => [...form.querySelectorAll(`input[name=${name}]:checked`)].map((c) => c.value);
  const optional = {
    details: value("details") || null,
    venue: value("venue") || null,
    rrule: repeat || null,
    languages: languages.length ? languages : null,
    access: checked("access").length ? checked("access") : null,
    materials: materials.length ? materials : null,
    agenda: checked("agenda").length ? checked("agenda") : null,
  };
  for (const [name, one] of Object.entries(optional)) if (one !== null || editing) body[name] = one;
  return body;
}

// The repeat as an RRULE of the node's subset, or "" for none.
function readRule(form, start) {
  const freq = form.elements.freq.value;
  if (!freq) return "";
  if (freq === CUSTOM) {
    const typed = form.elements.rrule.value.trim().toUpperCase();
    if (!typed || !RULE_SHAPE.test(typed)) throw new FieldError("rrule", t("ev.badRule"));
    return typed;
  }
  const parts = [`FREQ=${freq}`];
  const every = Number(form.elements.interval.value || 1);
  if (!Number.isInteger(every) || every < 1 || every > R.max_interval) throw new FieldError("interval", t("ev.badInterval", { count: R.max_interval }));
  if (every > 1) parts.push(`INTERVAL=${every}`);
  const ends = form.querySelector("input[name=ends]:checked").value;
  if (ends === "count") {
    const times = Number(form.elements.count.value);
    if (!Number.isInteger(times) || times < 1 || times > R.max_occurrences) throw new FieldError("count", t("ev.badCount", { count: R.max_occurrences }));
    parts.push(`COUNT=${times}`);
  } else {
    const last = form.elements.until.value;
    if (!last) throw new FieldError("until", t("ev.needUntil"));
    if (last < start.slice(0, 10)) throw new FieldError("until", t("ev.untilBeforeStart"));
    parts.push(`UNTIL=${last.replace(/-/g, "")}`);
  }
  if (freq === "WEEKLY") {
    const days = [...form.querySelectorAll("input[name=days]:checked")].map((c) => c.value);
    const first = weekday(start);
    if (days.length && !days.includes(first)) throw new FieldError("days", t("ev.startNotOnDay", { day: dayName(first) }));
    if (days.length > 1) parts.push(`BYDAY=${R.days.filter((d) => days.includes(d)).join(",")}`);
  }
  return parts.join(";");
}

// The form's control for a field the page or the node names.
export function eventControl(form, name) {
  if (name === "area") {
    const chosen = form.elements.area_choice;
    return chosen && chosen.value ? chosen : form.elements.area_code;
  }
  if (name === "rrule") return form.elements.freq.value === CUSTOM ? form.elements.rrule : form.elements.freq;
  if (["days", "access", "agenda"].includes(name)) return form.querySelector(`input[name=${name}]`);
  const found = form.elements[name];
  return found instanceof HTMLElement ? found : null;
}
