// #/r/{id} : one need or offer, a private reply form, matching posts and a
// way to flag a post for this node's organizers.
import { NODE, api, categoryName, rule } from "./api.js?v=__V__";
import { t } from "./i18n.js?v=__V__";
import "./i18n-views.js?v=__V__"; // this view's strings
import { date, errorText, field, h, languageName, notice, select } from "./dom.js?v=__V__";
import { clearInvalid, markInvalid, showRefusal } from "./forms.js?v=__V__";
import { card } from "./browse.js?v=__V__";

export async function show(main, route) {
  let record;
  try {
    record = await api("GET", `/records/${route.id}`);
  } catch (err) {
    const gone = err.code === "removed";
    main.append(h("h1", {}, t(gone ? "removed.title" : "record.missing")), gone ? removedNote(err) : notice(errorText(err), "error"),
      h("p", {}, h("a", { href: "#/" }, t("nav.browse"))));
    return;
  }
  main.append(details(record));
  if (!NODE.final_statuses.includes(record.status)) main.append(replyForm(record));
  else main.append(notice(t("record.closed", { status: t(`status.${record.status}`) })));
  const matches = h("section", { class: "matches", "aria-labelledby": "matches-title" },
    h("h2", { id: "matches-title" }, t(record.kind === "need" ? "record.matchesNeed" : "record.matchesOffer")));
  main.append(matches, flagForm(record));
  await loadMatches(matches, record);
}

// A post this node's organizers removed (410 "removed"): say so, with their
// reason (the API's message ends with it: "removed by ...: <reason>").
export function removedNote(err) {
  const message = String(err.message || "");
  const at = message.indexOf(": ");
  const reason = at >= 0 ? message.slice(at + 2) : "";
  return h("div", { class: "notice removed", role: "status" },
    h("p", {}, t("removed.note")),
    reason ? h("p", {}, h("strong", {}, t("removed.reason")), " ", h("span", { dir: "auto" }, reason)) : null);
}

// The full record; shared with the manage page (level: its title's heading level).
// A fulfilled or withdrawn post says when it was closed, not how long it is open:
// a version's created_at is when it was made, here when the post was closed.
export function details(record, level = 1) {
  const closed = NODE.final_statuses.includes(record.status);
  const rows = [
    [t("field.category"), categoryName(record.category)],
    [t("field.area"), record.area],
    [t("field.urgency"), t(`urgency.${record.urgency || "normal"}`)],
    [t("field.needed_by"), record.needed_by && date(record.needed_by)],
    [t("field.quantity"), record.quantity],
    [t("field.languages"), record.languages && record.languages.map(languageName).join(", ")],
    [t("record.status"), t(`status.${record.status}`)],
    ...(closed
      ? [[t(`record.closedOn.${record.status}`), date(record.created_at)]]
      : [[t("record.posted"), date(record.created_at)], [t("record.expires"), date(record.expires_at)]]),
  ].filter(([, value]) => value);
  return h("article", { class: `record ${record.kind}` },
    h("p", { class: "badges" }, h("span", { class: `badge ${record.kind}` }, t(`kind.${record.kind}`))),
    h(`h${level}`, { dir: "auto" }, record.title || ""),
    record.details ? h("p", { class: "details", dir: "auto" }, record.details) : null,
    record.give_back ? h("p", { class: "give-back" }, h("strong", {}, t("field.give_back")), " ", h("span", { dir: "auto" }, record.give_back)) : null,
    h("dl", {}, rows.map(([name, value]) => [h("dt", {}, name), h("dd", { dir: "auto" }, value)])),
  );
}

function replyForm(record) {
  const status = h("div");
  const form = h("form", { class: "reply", novalidate: true },
    h("h2", { id: "reply-title" }, t(record.kind === "need" ? "reply.titleNeed" : "reply.titleOffer")),
    h("p", { class: "private" }, t("reply.private")),
    field(t("reply.message"), h("textarea", { name: "message", required: true, maxlength: rule("reply", "message").maxLength, rows: 4 })),
    field(t("reply.contact"), h("input", { name: "contact", maxlength: rule("reply", "contact").maxLength, autocomplete: "off" }), t("reply.contactHint")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("reply.send"))),
    status,
  );
  form.setAttribute("aria-labelledby", "reply-title");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearInvalid(form);
    status.replaceChildren();
    const message = form.elements.message.value.trim();
    if (!message) {
      markInvalid(form.elements.message, t("reply.needMessage"));
      return;
    }
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      await api("POST", `/records/${record.id}/replies`, { body: { message, contact: form.elements.contact.value.trim() } });
      form.replaceChildren(h("h2", {}, t("reply.sentTitle")), notice(t("reply.sent"), "ok"));
    } catch (err) {
      showRefusal(form, status, err); // beside a field it names; any other (closed, too many) below the form
      button.disabled = false;
    }
  });
  return form;
}

async function loadMatches(section, record) {
  const list = h("ul", { class: "cards" });
  try {
    const found = await api("GET", `/records/${record.id}/matches`, { query: { limit: 5 } });
    if (found.records.length === 0) section.append(h("p", {}, t("record.noMatches")));
    for (const match of found.records) list.append(h("li", {}, card(match, null, 3)));
    section.append(list);
  } catch {
    section.append(h("p", {}, t("record.noMatches")));
  }
}

function flagForm(record) {
  const reasons = NODE.flag_reasons.map((r) => [r, t(`flag.${r}`)]);
  const status = h("div");
  const form = h("form", { class: "flag" },
    h("p", {}, t("flag.explain")),
    field(t("flag.reason"), select("reason", reasons, NODE.flag_reasons[0])),
    field(t("flag.note"), h("input", { name: "note", maxlength: rule("flag", "note").maxLength, autocomplete: "off" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "secondary" }, t("flag.send"))),
    status,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { reason: form.elements.reason.value };
    const note = form.elements.note.value.trim();
    if (note) body.note = note;
    try {
      await api("POST", `/records/${record.id}/flags`, { body });
      form.replaceChildren(notice(t("flag.thanks"), "ok"));
    } catch (err) {
      status.replaceChildren(notice(errorText(err), "error"));
    }
  });
  return h("details", { class: "flagbox" }, h("summary", {}, t("flag.open")), form);
}
