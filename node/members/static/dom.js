// Building the page from data, safely: every piece of text goes through
// textContent or a text node, never parsed as HTML, so nothing a member typed can
// become markup or script.
import { getLang, hasKey, t, tn } from "./i18n.js?v=__V__";
import { NODE, rule } from "./api.js?v=__V__";

// h("p", {class: "x", onclick: f}, "text", child) -> an element.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) el.addEventListener(name.slice(2), value);
    else if (name === "class") el.className = value;
    else if (name === "value") el.value = value;
    else if (name in el && typeof value !== "string") el[name] = value;
    else el.setAttribute(name, value === true ? "" : String(value));
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let fieldCount = 0;

// A labelled form field: a visible <label> tied to its control.
export function field(label, control, hint) {
  if (!control.id) control.id = `f${++fieldCount}`;
  const parts = [h("label", { for: control.id }, label), control];
  if (hint) {
    const hintEl = h("p", { class: "hint", id: `${control.id}-hint` }, hint);
    control.setAttribute("aria-describedby", hintEl.id);
    parts.push(hintEl);
  }
  return h("div", { class: "field" }, parts);
}

export function select(name, options, value) {
  // options: [[value, label], ...]
  const el = h("select", { name });
  for (const [v, label] of options) el.append(h("option", { value: v, selected: v === value }, label));
  return el;
}

// A status line that screen readers announce.
export function notice(text, kind = "info") {
  return h("p", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text);
}

// What went wrong, in the member's language: the API's error code picks the
// sentence (error.<code> in i18n.js, its limits filled in from the node's
// declarations); on a 429 the Retry-After says when to try again, else the
// code's own advice (error.<code>.later) if it has one; the node's own
// message (English) follows as a secondary detail, for whoever helps the member.
export function errorText(err) {
  const code = err && err.code;
  const known = code && hasKey(`error.${code}`);
  let main = known ? t(`error.${code}`, limits()) : t("error.unknown");
  if (err.retryAfter) main += ` ${tn("error.retryIn", err.retryAfter)}`;
  else if (known && hasKey(`error.${code}.later`)) main += ` ${t(`error.${code}.later`)}`;
  const detail = code && code !== "network" && err.message && err.message !== code ? err.message : "";
  if (!detail) return main;
  return [main, " ", h("span", { class: "detail" }, t("error.detail"), " ", h("span", { lang: "en", dir: "auto" }, detail))];
}

// The numbers error sentences name, as the node declares them.
function limits() {
  const found = {
    replies: NODE.replies_per_address,
    message: rule("reply", "message").maxLength,
    note: rule("flag", "note").maxLength,
    reason: rule("removal", "reason").maxLength,
    name: rule("join", "name").maxLength,
    comment: rule("comment", "text").maxLength,
    answerNote: rule("answer", "note").maxLength,
  };
  const lang = document.documentElement.lang;
  return Object.fromEntries(Object.entries(found).filter(([, v]) => v !== undefined).map(([k, v]) => [k, v.toLocaleString(lang)]));
}

export function date(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  // A bare date (needed-by) is midnight UTC: show that day wherever the reader is.
  const options = { dateStyle: "medium", timeZone: iso.endsWith("T00:00:00Z") ? "UTC" : undefined };
  return isNaN(d) ? "" : d.toLocaleDateString(document.documentElement.lang, options);
}

// A language tag by its name in the page's language ("en" is "English" or
// "inglés"), where the browser knows it; else the tag itself.
const languageNames = new Map();
export function languageName(code) {
  const lang = getLang();
  try {
    if (!languageNames.has(lang)) languageNames.set(lang, new Intl.DisplayNames([lang], { type: "language", fallback: "code" }));
    return languageNames.get(lang).of(code) || code;
  } catch {
    return code;
  }
}

// Copies text, with the older selection fallback where the clipboard API is missing.
export async function copyText(input) {
  try {
    await navigator.clipboard.writeText(input.value);
    return true;
  } catch {
    input.select();
    return document.execCommand && document.execCommand("copy");
  }
}

// A step that asks first, in the page (not window.confirm: its buttons speak
// the browser's language): the question takes the buttons' place and the focus;
// "No" or Escape puts them back and the focus on the button pressed.
export function askFirst(row, button, question, yesLabel, noLabel, go, danger = false) {
  const id = `confirm-${Math.random().toString(36).slice(2)}`;
  const asked = h("p", { id, class: "question", tabindex: "-1" }, question);
  const yes = h("button", { type: "button", class: danger ? "danger" : "" }, yesLabel);
  const no = h("button", { type: "button", class: "secondary" }, noLabel);
  const panel = h("div", { class: "confirm", role: "group", "aria-labelledby": id }, asked, h("div", { class: "actions wrap" }, yes, no));
  const back = () => {
    panel.remove();
    row.hidden = false;
    button.focus();
  };
  yes.addEventListener("click", async () => {
    yes.disabled = no.disabled = true;
    await go();
    if (panel.isConnected) { // refused: the status line says why; the buttons come back
      panel.remove();
      row.hidden = false;
    }
  });
  no.addEventListener("click", back);
  panel.addEventListener("keydown", (event) => {
    if (event.key === "Escape") back();
  });
  row.hidden = true;
  row.after(panel);
  asked.focus();
}
