// #/post : post a need or an offer in under a minute. No account and no
// questions about anyone's circumstances: what is needed or offered, roughly
// where (an area code of at most 5 characters, about 5 km; never an
// address), and optional details. Afterwards the private manage link is
// shown once, with a copy button. Every limit (lengths, the area and
// language patterns, the choices) is the node's own declaration (api.js
// NODE.forms); a field the member must fix gets its message beside it.
import { CATEGORY_SLUGS, NODE, api, categoryName, patternOf, rule } from "./api.js?v=__V__";
import { getLang, t } from "./i18n.js?v=__V__";
import "./i18n-views.js?v=__V__"; // this view's strings
import { copyText, field, h, select } from "./dom.js?v=__V__";
import { FieldError, clearInvalid, readOrMark, showRefusal } from "./forms.js?v=__V__";

// One declaration for both kinds: the need's form has every field an offer's has, and give_back.
const need = (name) => rule("need", name);
const AREA = patternOf(need("area"));
const LANGUAGE = patternOf(need("languages").items);

// The node's areas: in the page itself (api.js NODE). Only a page without
// them asks the API, once per load, and an older node whose /api/v1/node
// lacks areas has them in its own signed profile.
let nodeInfo = null;
function node() {
  if (Array.isArray(NODE.areas)) return Promise.resolve(NODE);
  if (!nodeInfo) {
    nodeInfo = (async () => {
      const info = await api("GET", "/node");
      if (!Array.isArray(info.areas)) {
        // Older nodes: the areas are in the node's own signed profile.
        try {
          const found = await api("GET", "/records", { query: { kind: "node", limit: 100 } });
          const mine = found.records.find((r) => r.author === info.public_key);
          info.areas = mine && Array.isArray(mine.areas) ? mine.areas : [];
        } catch {
          info.areas = [];
        }
      }
      return info;
    })().catch((err) => {
      nodeInfo = null;
      throw err;
    });
  }
  return nodeInfo;
}

// The areas to choose from: the node's own (its configured areas) or,
// when it has none configured, the areas of the posts it holds, most used
// first. Typing another code is always possible.
export async function areaChoices() {
  try {
    const own = (await node()).areas;
    if (own.length) return own;
    const found = await api("GET", "/records", { query: { limit: 100 } });
    const used = new Map();
    for (const r of found.records) {
      if ((r.kind === "need" || r.kind === "offer") && AREA.test(r.area || "")) used.set(r.area, (used.get(r.area) || 0) + 1);
    }
    return [...used].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, 12).map(([area]) => area);
  } catch {
    return [];
  }
}

// "u4pru (about 5 km)": an area code with how wide it is.
export function areaLabel(code) {
  return t("area.label", { code, size: t(`area.size${Math.min(Math.max(code.length, 1), 5)}`) });
}

export async function show(main, route) {
  const kind = route.query && route.query.get("kind") === "offer" ? "offer" : "need";
  const areas = await areaChoices();
  main.append(h("h1", {}, t("post.title")), h("p", { class: "lead" }, t("post.lead")));
  const form = postForm(kind, areas);
  const status = h("div");
  main.append(form, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    const body = checked(form, false);
    if (!body) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await api("POST", "/records", { body });
      form.remove();
      main.querySelector(".lead").remove();
      showManageLink(main, answer);
    } catch (err) {
      showError(form, status, err);
    } finally {
      button.disabled = false;
    }
  });
}

// The form, shared with the manage page's editor (record = the current values).
export function postForm(kind, areas, record) {
  const r = record || {};
  const editing = Boolean(record);
  const kindChoice = h("fieldset", { class: "kind" },
    h("legend", {}, t("post.kind")),
    ...["need", "offer"].map((k) => h("label", { class: "choice" },
      h("input", { type: "radio", name: "kind", value: k, checked: k === kind, disabled: editing }), " ", t(`post.kind.${k}`))),
  );
  const areaOptions = areas.map((a) => [a, areaLabel(a)]);
  const current = r.area || "";
  const areaSelect = areas.length
    ? select("area_choice", [...areaOptions, ["", t("post.areaOther")]], areas.includes(current) || !current ? current || areas[0] : "")
    : null;
  const areaText = h("input", { name: "area_code", value: areaSelect && areas.includes(current) ? "" : current, autocapitalize: "none", spellcheck: "false", autocomplete: "off" });
  const areaTextField = field(t("post.areaCode"), areaText, t("post.areaCodeHint"));
  if (areaSelect) {
    const sync = () => { areaTextField.hidden = areaSelect.value !== ""; };
    areaSelect.addEventListener("change", sync);
    sync();
  }
  const categories = CATEGORY_SLUGS.includes(r.category) || !r.category ? CATEGORY_SLUGS : [...CATEGORY_SLUGS, r.category];
  const giveBack = field(t("field.give_back"), h("textarea", { name: "give_back", maxlength: need("give_back").maxLength, rows: 2, value: r.give_back || "" }), t("post.giveBackHint"));
  const form = h("form", { class: "post", novalidate: true },
    kindChoice,
    field(t("field.title"), h("input", { name: "title", required: true, maxlength: need("title").maxLength, value: r.title || "", autocomplete: "off" }), t("post.titleHint")),
    field(t("field.category"), select("category", categories.map((c) => [c, categoryName(c)]), r.category || "other")),
    areaSelect ? field(t("field.area"), areaSelect, t("post.areaHint")) : null,
    areaSelect ? areaTextField : field(t("field.area"), areaText, t("post.areaCodeHint")),
    field(t("field.details"), h("textarea", { name: "details", maxlength: need("details").maxLength, rows: 4, value: r.details || "" }), t("post.detailsHint")),
    h("div", { class: "grid" },
      field(t("field.urgency"), select("urgency", NODE.urgencies.map((u) => [u, t(`urgency.${u}`)]), r.urgency || "normal")),
      field(t("field.needed_by"), h("input", { type: "date", name: "needed_by", value: (r.needed_by || "").slice(0, 10) })),
      field(t("field.quantity"), h("input", { name: "quantity", maxlength: need("quantity").maxLength, value: r.quantity || "" })),
      field(t("field.languages"), h("input", { name: "languages", value: (r.languages || [getLang()]).join(", "), autocapitalize: "none", spellcheck: "false" }), t("post.languagesHint")),
    ),
    giveBack,
    h("div", { class: "actions" }, h("button", { type: "submit" }, editing ? t("manage.save") : t("post.submit"))),
  );
  const syncKind = () => { giveBack.hidden = form.elements.kind.value !== "need"; };
  for (const radio of form.querySelectorAll("input[name=kind]")) radio.addEventListener("change", syncKind);
  syncKind();
  return form;
}

// The form's values as an API body; throws a FieldError (the field, a member-facing message).
export function readForm(form, editing = false) {
  const v = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
  const body = {};
  if (!editing) body.kind = form.elements.kind.value;
  body.title = v("title");
  if (!body.title) throw new FieldError("title", t("post.needTitle"));
  body.category = v("category");
  const choice = form.elements.area_choice ? form.elements.area_choice.value : "";
  body.area = (choice || v("area_code")).toLowerCase();
  if (!AREA.test(body.area)) throw new FieldError("area", t("post.badArea"));
  const languages = v("languages").toLowerCase().split(/[\s,]+/).filter(Boolean);
  if (languages.some((l) => !LANGUAGE.test(l))) throw new FieldError("languages", t("post.badLanguage"));
  const most = need("languages").maxItems;
  if (most !== undefined && new Set(languages).size > most) throw new FieldError("languages", t("post.tooManyLanguages", { count: most }));
  const optional = { details: v("details"), quantity: v("quantity"), urgency: v("urgency"), needed_by: v("needed_by") };
  if (form.elements.kind.value === "need") optional.give_back = v("give_back");
  for (const [name, value] of Object.entries(optional)) {
    if (value) body[name] = value;
    else if (editing) body[name] = null;
  }
  if (languages.length) body.languages = [...new Set(languages)];
  else if (editing) body.languages = null;
  return body;
}

// The form's control for a body field (the area is typed or chosen), or null.
function controlFor(form, name) {
  if (name === "area") {
    const chosen = form.elements.area_choice;
    return chosen && chosen.value ? chosen : form.elements.area_code;
  }
  const control = form.elements[name];
  return control instanceof HTMLElement && !control.closest("[hidden]") ? control : null;
}

// The form's body, or null after showing what to fix beside its field.
export function checked(form, editing) {
  clearInvalid(form);
  return readOrMark(() => readForm(form, editing), (name) => controlFor(form, name));
}

// The node's refusal: beside the field it names, when the form has it; else in the status line.
export function showError(form, status, err) {
  showRefusal(form, status, err, (name) => controlFor(form, name));
}

// Shown once, after posting: the private manage link and a way to copy it.
export function showManageLink(main, answer) {
  const record = answer.record;
  const link = `${location.origin}/#/manage/${record.id}/${answer.manage_token}`;
  const box = h("input", { readonly: true, value: link, class: "link", "aria-describedby": "manage-explain" });
  const copied = h("span", { role: "status", class: "copied" });
  const copy = h("button", { type: "button" }, t("post.copy"));
  copy.addEventListener("click", async () => {
    copied.textContent = (await copyText(box)) ? t("post.copied") : t("post.copyFailed");
  });
  main.append(
    h("section", { class: "manage-link", "aria-labelledby": "posted-title" },
      h("h2", { id: "posted-title" }, t(`post.done.${record.kind}`)),
      h("p", { id: "manage-explain", class: "important" }, t("post.keepLink")),
      field(t("post.manageLink"), box),
      h("p", { class: "actions" }, copy, " ", copied),
      answer.linked_offer
        ? h("p", {}, t("post.linkedOffer"), " ", h("a", { href: `#/manage/${answer.linked_offer.id}/${answer.manage_token}` }, t("post.manageOffer")))
        : null,
      h("p", {}, h("a", { href: `#/manage/${record.id}/${answer.manage_token}` }, t("post.openManage")), " · ",
        h("a", { href: `#/r/${record.id}` }, t("post.seePublic"))),
    ),
  );
  copy.focus();
}
