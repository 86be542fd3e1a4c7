// #/join and #/join/{code} : join the chapter with an invite code and a name
// (a pseudonym is fine; nothing else is asked, ever). The node answers with
// the new member's card, once: the page shows it with its QR code and a print
// button, and keeps it on this device (chapter.js). A refusal is said beside
// the field it is about: the code (mistyped, used, expired) or the name (taken).
import { api, rule } from "./api.js?v=__V__";
import { t } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { field, h, notice } from "./dom.js?v=__V__";
import { clearInvalid, readOrMark, showRefusal } from "./forms.js?v=__V__";
import { cardBox, checkedText, getCard, setCard } from "./chapter.js?v=__V__";

// The field a refusal is about, when the node names none.
const FIELD_OF = { invalid_invite: "code", too_many_attempts: "code", name_taken: "name", invalid_member: "name" };

export function show(main, route) {
  main.append(h("h1", {}, t("join.title")), h("p", { class: "lead" }, t("join.lead")));
  if (getCard()) main.append(notice(t("join.already"), "info"), h("p", {}, h("a", { href: "#/me" }, t("join.seeCard"))));
  const code = h("input", { name: "code", value: route.code || "", autocomplete: "off", autocapitalize: "characters", spellcheck: "false", required: true });
  const name = h("input", { name: "name", maxlength: rule("join", "name").maxLength, autocomplete: "nickname", required: true });
  const form = h("form", { class: "join", novalidate: true },
    field(t("join.code"), code, t("join.codeHint")),
    field(t("join.name"), name, t("join.nameHint")),
    h("p", { class: "important" }, t("join.nothingElse")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("join.submit"))),
  );
  const status = h("div");
  main.append(form, status);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    status.replaceChildren();
    clearInvalid(form);
    const body = readOrMark(
      () => ({ code: checkedText(code, rule("join", "code"), t("join.code")), name: checkedText(name, rule("join", "name"), t("join.name")) }),
      (field) => form.elements[field],
    );
    if (body === null) return;
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    let answer;
    try {
      answer = await api("POST", "/members", { body });
    } catch (err) {
      button.disabled = false;
      if (!err.field && FIELD_OF[err.code]) err.field = FIELD_OF[err.code];
      showRefusal(form, status, err);
      return;
    }
    const kept = getCard();
    if (!kept) setCard(answer.card); // a device holding another member's card keeps it unless told
    main.replaceChildren(
      h("h1", {}, t("join.welcome", { name: answer.member.name })),
      h("p", { class: "lead no-print" }, t("join.once")),
      await cardBox(answer.card),
      kept ? keepHere(answer.card) : null,
      h("p", { class: "no-print" }, h("a", { href: "#/proposals" }, t("join.toProposals")), " · ", h("a", { href: "#/me" }, t("join.toMe"))),
    );
    const heading = main.querySelector("h1");
    heading.tabIndex = -1;
    heading.focus();
  });
}

// On a device that already keeps another member's card (a shared phone):
// the new card is shown and printed, and kept here only if its member asks.
function keepHere(card) {
  const button = h("button", { type: "button", class: "secondary no-print" }, t("join.keepHere"));
  button.addEventListener("click", () => {
    setCard(card);
    button.replaceWith(h("p", { class: "no-print" }, t("join.keptHere")));
  });
  return h("div", { class: "no-print" }, h("p", {}, t("join.otherCardHere")), button);
}
