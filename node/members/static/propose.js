// #/proposals/new : propose something to the chapter. First what kind of
// proposal (a statement, categories, peering, organizers, a member's card,
// settings, a removal), then that kind's fields as the node declares them
// (NODE.forms.effects[type][action]: each field's limits, choices, pattern),
// a title and a text, when it closes (the chapter's setting by default), the
// quorum (never below the chapter's), the threshold and a secret or open
// ballot; a statement may offer options to rank instead (ranked choice). A
// member is chosen from the roll, a category from the chapter's list.
import { NODE, categoryName, rule } from "./api.js?v=__V__";
import { hasKey, t } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { field, h, notice, select } from "./dom.js?v=__V__";
import { FieldError, clearInvalid, readOrMark, showRefusal } from "./forms.js?v=__V__";
import {
  asMember, cardRefused, chapterNav, checkedText, duration, getCard, needCard, settingValue,
} from "./chapter.js?v=__V__";

const P = (name) => rule("proposal", name);
const CHAPTER = NODE.chapter || { types: [], thresholds: [], settings: {} };
const UNITS = [["days", 1440], ["hours", 60], ["minutes", 1]];
const SET = "set"; // a settings proposal's one form, with no action field
// What a change is about comes before how (the node's data lists fields by name).
const first = (name) => (["slug", "member", "url", "record_id"].includes(name) ? 0 : 1);

export async function show(main) {
  main.append(chapterNav("proposals"), h("h1", {}, t("propose.title")), h("p", { class: "lead" }, t("propose.lead")),
    notice(t("propose.public")));
  if (!getCard()) {
    needCard(main, () => show(main));
    return;
  }
  let roll = null;
  const members = async () => {
    if (!roll) roll = (await asMember("GET", "/members")).members.filter((m) => m.status === "active");
    return roll;
  };
  const typeSelect = select("type", CHAPTER.types.map((k) => [k, t(`ptype.${k}`)]), CHAPTER.types[0]);
  const typeHint = h("p", { class: "hint", id: "type-hint", "aria-live": "polite" });
  typeSelect.setAttribute("aria-describedby", "type-hint");
  const effectBox = h("div", { class: "effect" });
  const optionsBox = h("div");
  const status = h("div");
  const form = h("form", { class: "propose", novalidate: true },
    h("div", { class: "field" }, h("label", { for: "propose-type" }, t("propose.type")), typeSelect, typeHint),
    effectBox,
    field(t("propose.titleField"), h("input", { name: "title", maxlength: P("title").maxLength, autocomplete: "off", required: true }), t("propose.titleHint")),
    field(t("propose.text"), h("textarea", { name: "text", maxlength: P("text").maxLength, rows: 5 }), t("propose.textHint")),
    optionsBox,
    closingControl(),
    h("div", { class: "grid" },
      field(t("propose.quorum"), h("input", { type: "number", name: "quorum", min: CHAPTER.settings.quorum, max: P("quorum").maximum, value: CHAPTER.settings.quorum, inputmode: "numeric" }),
        t("propose.quorumHint", { min: CHAPTER.settings.quorum })),
      field(t("propose.threshold"), select("threshold", CHAPTER.thresholds.map((x) => [x, t(`threshold.${x}`)]), CHAPTER.settings.threshold), t("propose.thresholdHint")),
    ),
    h("fieldset", { class: "ballot-kind" }, h("legend", {}, t("propose.ballot")),
      (P("ballot").enum || []).map((b, i) => h("label", { class: "choice" },
        h("input", { type: "radio", name: "ballot", value: b, checked: i === 0 }), " ", t(`ballot.${b}`), h("span", { class: "hint" }, " ", t(`ballot.${b}.hint`))))),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("propose.submit"))),
  );
  typeSelect.id = "propose-type";
  let drawing = 0;
  const drawType = async () => {
    const type = typeSelect.value;
    const mine = ++drawing;
    typeHint.textContent = t(`ptype.${type}.hint`);
    const fields = await effectFields(type, members); // a member's field waits for the roll
    if (mine !== drawing) return; // another type was chosen meanwhile
    effectBox.replaceChildren(...fields);
    optionsBox.replaceChildren(...(type === "text" ? [optionsControl()] : []));
  };
  typeSelect.addEventListener("change", () => drawType().catch((err) => showRefusal(form, status, err)));
  main.append(form, status);
  try {
    await drawType();
  } catch (err) {
    if (cardRefused(err)) {
      main.replaceChildren(chapterNav("proposals"), h("h1", {}, t("propose.title")));
      needCard(main, () => show(main), err);
      return;
    }
    showRefusal(form, status, err);
  }
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    clearInvalid(form);
    const body = readOrMark(() => readForm(form), (name) => controlFor(form, name));
    if (body === null) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await asMember("POST", "/proposals", { body });
      location.hash = `#/p/${answer.proposal.id}`;
    } catch (err) {
      button.disabled = false;
      showRefusal(form, status, err, (name) => controlFor(form, name));
    }
  });
}

// The form's control for a field the node or the page names.
function controlFor(form, name) {
  // The change as a whole (a category the chapter already has): its first field, what it is about.
  const effect = [...form.querySelectorAll("[name^='effect.']")].filter((c) => c.name !== "effect.action");
  if (name === "effect") return effect[0] || form.elements["effect.action"] || null;
  if (name === "action") return form.elements["effect.action"] || null;
  if (name === "options") return form.querySelector("[name=option]");
  if (name === "closes_in_minutes") return form.elements.closes_in;
  const found = form.elements[`effect.${name}`] || form.elements[name];
  return found instanceof HTMLElement ? found : null;
}

// The fields of one type's effect: its action (when it has several), then the action's fields.
async function effectFields(type, members) {
  const forms = (NODE.forms.effects || {})[type];
  if (!forms) return [];
  const actions = Object.keys(forms);
  const fieldsBox = h("div");
  let drawing = 0;
  const draw = async (action) => {
    const mine = ++drawing;
    const controls = await Promise.all(
      Object.entries(forms[action]).filter(([name]) => name !== "action").sort(([a], [b]) => first(a) - first(b))
        .map(([name, spec]) => effectControl(type, action, name, spec, members)));
    if (mine === drawing) fieldsBox.replaceChildren(...controls); // else another action was chosen meanwhile
  };
  if (actions.length === 1 && actions[0] === SET) {
    await draw(SET);
    return [h("p", { class: "hint" }, t("propose.settingsLead")), fieldsBox];
  }
  const chooser = select("effect.action", actions.map((a) => [a, t(`paction.${type}.${a}`)]), actions[0]);
  chooser.addEventListener("change", () => draw(chooser.value));
  await draw(actions[0]);
  return [field(t("propose.action"), chooser), fieldsBox];
}

async function effectControl(type, action, name, spec, members) {
  const label = t(`efield.${name}`);
  const hint = hasKey(`efield.${name}.hint`) ? t(`efield.${name}.hint`) : null;
  const control = await (async () => {
    if (name === "member") {
      return select(`effect.${name}`, [["", t("propose.chooseMember")], ...(await members()).map((m) => [m.id, m.name])], "");
    }
    if (name === "slug" && action !== "add") {
      const slugs = NODE.categories.map((c) => c.slug).slice(0, action === "retire" ? -1 : undefined); // the last (other) stays
      return select(`effect.${name}`, slugs.map((s) => [s, categoryName(s)]), slugs[0]);
    }
    if (spec.enum) {
      const labelOf = (v) => (name === "threshold" ? t(`threshold.${v}`) : v);
      return select(`effect.${name}`, [...(spec.required ? [] : [["", t("propose.unchanged")]]), ...spec.enum.map((v) => [v, labelOf(v)])], "");
    }
    if (spec.minimum !== undefined) {
      return h("input", { type: "number", name: `effect.${name}`, min: spec.minimum, max: spec.maximum, inputmode: "numeric" });
    }
    return h("input", { name: `effect.${name}`, maxlength: spec.maxLength, autocomplete: "off", spellcheck: "false" });
  })();
  const now = type === "settings" && name in CHAPTER.settings ? t("propose.now", { value: settingValue(name, CHAPTER.settings[name]) }) : null;
  return field(label, control, [hint, now].filter(Boolean).join(" ") || null);
}

// Closing time: a number and a unit, the chapter's setting by default.
function closingControl() {
  const minutes = Number(CHAPTER.settings.closes_in_minutes) || P("closes_in_minutes").minimum || 1;
  const [unit, size] = UNITS.find(([, s]) => minutes % s === 0);
  const amount = h("input", { type: "number", name: "closes_in", min: 1, value: minutes / size, inputmode: "numeric", "aria-describedby": "closes-hint" });
  const units = select("closes_unit", UNITS.map(([u]) => [u, t(`propose.unit.${u}`)]), unit);
  units.setAttribute("aria-label", t("propose.unit"));
  amount.id = "closes-in";
  return h("div", { class: "field" },
    h("label", { for: "closes-in" }, t("propose.closesIn")),
    h("div", { class: "quick" }, amount, units),
    h("p", { class: "hint", id: "closes-hint" }, t("propose.closesHint", { value: duration(minutes) })));
}

// Options to rank (a statement only): none, or from the node's least to its most.
function optionsControl() {
  const spec = P("options");
  const least = spec.minItems || 1;
  const most = spec.maxItems || least;
  const list = h("ol", { class: "option-inputs" });
  const add = h("button", { type: "button", class: "secondary" }, t("propose.addOption"));
  const addOne = () => {
    const n = list.children.length + 1;
    const input = h("input", { name: "option", id: `option-${n}`, maxlength: (spec.items || {}).maxLength, autocomplete: "off", "aria-label": t("propose.optionN", { n }) });
    list.append(h("li", {}, input));
    add.hidden = list.children.length >= most;
    return input;
  };
  add.addEventListener("click", () => addOne().focus());
  for (let i = 0; i < least; i += 1) addOne();
  return h("fieldset", { class: "options" },
    h("legend", {}, t("propose.options")),
    h("p", { class: "hint" }, t("propose.optionsHint", { min: least, max: most })),
    list, add);
}

function readForm(form) {
  const type = form.elements.type.value;
  const body = { type, title: checkedText(form.elements.title, P("title"), t("propose.titleField")) };
  const text = checkedText(form.elements.text, P("text"), t("propose.text"));
  if (text) body.text = text;
  const forms = (NODE.forms.effects || {})[type];
  if (forms) body.effect = readEffect(form, type, forms);
  if (type === "text") {
    const inputs = [...form.querySelectorAll("[name=option]")];
    const spec = P("options");
    const given = inputs.map((input) => checkedText(input, spec.items || {}, input.getAttribute("aria-label"))).filter(Boolean);
    if (given.length && given.length < (spec.minItems || 1)) {
      throw new FieldError("option", t("propose.tooFewOptions", { min: spec.minItems }));
    }
    if (given.length) body.options = given;
  }
  const size = Object.fromEntries(UNITS)[form.elements.closes_unit.value] || 1;
  const minutes = whole(form.elements.closes_in, t("propose.closesIn")) * size;
  const limits = P("closes_in_minutes");
  if (minutes < limits.minimum || minutes > limits.maximum) {
    throw new FieldError("closes_in", t("propose.closesRange", { min: duration(limits.minimum), max: duration(limits.maximum) }));
  }
  body.closes_in_minutes = minutes;
  body.quorum = inRange(form.elements.quorum, t("propose.quorum"), CHAPTER.settings.quorum, P("quorum").maximum);
  body.threshold = form.elements.threshold.value;
  body.ballot = form.elements.ballot.value;
  return body;
}

function readEffect(form, type, forms) {
  const action = form.elements["effect.action"] ? form.elements["effect.action"].value : SET;
  const effect = action === SET ? {} : { action };
  for (const [name, spec] of Object.entries(forms[action] || {})) {
    const control = form.elements[`effect.${name}`];
    if (name === "action" || !control) continue;
    const label = t(`efield.${name}`);
    if (control.tagName === "SELECT") {
      if (control.value) effect[name] = control.value;
      else if (spec.required) throw new FieldError(control.name, t("ch.required", { field: label }));
    } else if (spec.minimum !== undefined) {
      if (control.value.trim()) effect[name] = inRange(control, label, spec.minimum, spec.maximum);
      else if (spec.required) throw new FieldError(control.name, t("ch.required", { field: label }));
    } else {
      const value = checkedText(control, spec, label);
      if (value) effect[name] = value;
    }
  }
  if (action === SET && !Object.keys(effect).length) {
    throw new FieldError(form.querySelector("[name^='effect.']").name, t("propose.oneSetting"));
  }
  return effect;
}

function whole(control, label) {
  const n = Number(control.value.trim());
  if (!control.value.trim() || !Number.isInteger(n)) throw new FieldError(control.name, t("ch.wholeNumber", { field: label }));
  return n;
}

function inRange(control, label, min, max) {
  const n = whole(control, label);
  if (n < min || n > max) throw new FieldError(control.name, t("ch.range", { field: label, min, max }));
  return n;
}
