// Telling a member what to fix in a form, beside the field: the message is
// tied to its control (aria-invalid, aria-describedby) and announced, and the
// focus moves there, so it is never only a notice at the bottom of the form.
// Used by the post, reply and edit forms (not on the first load).
import { errorText, h, notice } from "./dom.js?v=__V__";

// A form field the member must fix: named so the form can show the message next to it.
export class FieldError extends Error {
  constructor(name, message) {
    super(message);
    this.field = name;
  }
}

// Shows a message next to a control and ties it to it (aria-invalid,
// aria-describedby), so a screen reader reads it on the field itself.
export function markInvalid(control, message) {
  const id = `${control.id}-error`;
  const note = h("p", { class: "field-error", id, role: "alert" }, message);
  (control.closest(".field") || control.parentElement).append(note);
  control.setAttribute("aria-invalid", "true");
  const described = (control.getAttribute("aria-describedby") || "").split(" ").filter(Boolean);
  control.setAttribute("aria-describedby", [...described, id].join(" "));
  control.focus();
  return note;
}

// What read() reads from a form, or null once the field at fault shows why
// (a FieldError: controlOf gives its control); any other error is thrown on.
export function readOrMark(read, controlOf) {
  try {
    return read();
  } catch (err) {
    if (!(err instanceof FieldError)) throw err;
    markInvalid(controlOf(err.field), err.message);
    return null;
  }
}

export function clearInvalid(form) {
  for (const note of form.querySelectorAll(".field-error")) note.remove();
  for (const control of form.querySelectorAll("[aria-invalid]")) {
    control.removeAttribute("aria-invalid");
    const kept = (control.getAttribute("aria-describedby") || "").split(" ").filter((id) => id && id !== `${control.id}-error`);
    if (kept.length) control.setAttribute("aria-describedby", kept.join(" "));
    else control.removeAttribute("aria-describedby");
  }
}

// The node's refusal: beside the field it names when the form has it
// (find: a body field's name to its control, or null), else in the status line.
export function showRefusal(form, status, err, find = (name) => form.elements[name] || null) {
  clearInvalid(form);
  const control = err.field && find(err.field);
  if (control instanceof HTMLElement) markInvalid(control, errorText(err));
  else status.replaceChildren(notice(errorText(err), "error"));
}
