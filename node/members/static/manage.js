// #/manage/{id}/{token} : the poster's own page, opened with the private
// manage link. It shows every post the token manages (GET /api/v1/manage:
// a need and the give-back offer linked to it share one token), each with
// its status, what can still be done with it and the replies sent to it, so
// no reply is ever out of sight. Fulfilled and withdrawn are final: such a
// post shows a plain note and its replies, no buttons that would fail. A
// post this node's organizers removed shows that, with their reason. The
// token is sent only as an Authorization header to this node's API.
// Marking a post fulfilled or withdrawn asks first, in the page: a question
// with "Yes" and "No" buttons in place of the actions (Escape is "No"), not
// window.confirm, whose buttons are in the browser's language rather than
// the page's, which some browsers suppress, and which tests cannot read.
import { NODE, api } from "./api.js?v=__V__";
import { t } from "./i18n.js?v=__V__";
import "./i18n-views.js?v=__V__"; // this view's strings
import { askFirst, copyText, date, errorText, field, h, notice } from "./dom.js?v=__V__";
import { details, removedNote } from "./record.js?v=__V__";
import { areaChoices, checked, postForm, showError } from "./post.js?v=__V__";

const FINAL = new Set(NODE.final_statuses);
let boxCount = 0;

// A moment with its time of day, in the reader's locale and time zone.
function dateTime(iso) {
  const d = new Date(iso || "");
  return isNaN(d) ? "" : d.toLocaleString(document.documentElement.lang, { dateStyle: "medium", timeStyle: "short" });
}

export async function show(main, route) {
  const { token } = route;
  let record = null;
  let removed = null;
  let missing = null;
  try {
    record = await api("GET", `/records/${route.id}`);
  } catch (err) {
    if (err.code === "removed") removed = err;
    else if (err.code === "not_found") missing = err; // expired, say; its linked post may still be here
    else {
      main.append(h("h1", {}, t("manage.title")), notice(errorText(err), "error"));
      return;
    }
  }
  let posts;
  let refused = false;
  try {
    posts = (await api("GET", "/manage", { token })).posts;
  } catch (err) {
    if (err.code === "unauthorized" || err.code === "forbidden") refused = true;
    else if (err.code !== "not_found" && err.code !== "removed") {
      main.append(h("h1", {}, t("manage.title")), notice(errorText(err), "error"));
      return;
    }
    posts = null; // a node without GET /manage: this post alone
  }
  if (missing && (refused || !posts || !posts.length)) {
    main.append(h("h1", {}, t("manage.title")), notice(t("manage.missing"), "error"), notice(errorText(missing), "error"));
    return;
  }
  main.append(h("p", { class: "eyebrow" }, t("manage.title")));
  if (missing) {
    main.append(h("h1", {}, t("manage.gone")), notice(t("manage.missing"), "error"));
  } else if (removed) {
    main.append(h("h1", {}, t("removed.title")), removedNote(removed));
  } else if (refused) {
    // Not this post's token (or it manages nothing here): show the post, change nothing.
    main.append(details(record), notice(t("manage.badToken"), "error"));
    return;
  } else {
    main.append(h("p", { class: "private" }, t("manage.private")));
  }
  const all = posts || (record ? [record] : []);
  const first = record && (all.find((p) => p.id === record.id) || record);
  if (first) main.append(postBox(first, route, true));
  const others = all.filter((p) => !first || p.id !== first.id);
  if (others.length) {
    main.append(h("h2", { class: "also" }, t("manage.also")));
    for (const p of others) main.append(postBox(p, route, false));
  }
}

// One managed post: its details, status line, actions or closed note, editor and replies.
function postBox(initial, route, isMain) {
  const { token } = route;
  const n = ++boxCount;
  const sub = isMain ? "h2" : "h4";
  const box = h("section", { class: `managed ${isMain ? "main-post" : "linked-post"}` });
  const status = h("div", { class: "manage-status", tabindex: "-1" });
  let record = initial;

  const redraw = (fresh, message) => {
    record = fresh;
    // A change makes a new version with a new id: keep the address bar (and
    // so a reload or a bookmark made now) pointing at the current one.
    if (isMain) history.replaceState(null, "", `#/manage/${record.id}/${token}`);
    const closed = FINAL.has(record.status);
    box.replaceChildren(
      details(record, isMain ? 1 : 3),
      status,
      ...(closed ? [notice(t(`manage.final.${record.status}`))] : [actions(record), editor(record)]),
      replies(record),
    );
    status.replaceChildren(message ? notice(message, "ok") : "");
  };

  async function change(method, path, body, message, form) {
    status.replaceChildren();
    try {
      const answer = await api(method, path, { body, token });
      redraw(answer.record, message);
      if (isMain) await warnIfLinkChanged(answer.record);
      status.focus();
    } catch (err) {
      if (err.code === "forbidden" || err.code === "unauthorized") status.replaceChildren(notice(t("manage.badToken"), "error"));
      else if (form) showError(form, status, err);
      else status.replaceChildren(notice(errorText(err), "error"));
    }
  }

  function actions(r) {
    const row = h("div", { class: "actions wrap" });
    const setStatus = (s) => change("POST", `/records/${r.id}/status`, { status: s }, t("manage.changed", { status: t(`status.${s}`) }));
    const statusButton = (s) => {
      const b = h("button", { type: "button", class: s === "withdrawn" ? "secondary" : "" }, t(`manage.mark.${s}`));
      b.addEventListener("click", () => (FINAL.has(s) ? confirmFirst(row, b, s, () => setStatus(s)) : setStatus(s)));
      return b;
    };
    for (const s of NODE.statuses) if (s !== r.status) row.append(statusButton(s));
    const days = NODE.post_days;
    const renew = h("button", { type: "button", class: "secondary" }, t("manage.renew", { days }));
    renew.addEventListener("click", () => change("PATCH", `/records/${r.id}`, { expires_in_days: days }, t("manage.renewed", { days })));
    row.append(renew);
    return h("section", { "aria-labelledby": `actions-${n}` },
      h(sub, { id: `actions-${n}` }, t("manage.actions")),
      h("p", {}, t("manage.expires", { date: date(r.expires_at) })),
      row,
    );
  }

  // A final step asks first (dom.js): "Yes" / "No" in place of the buttons.
  function confirmFirst(row, button, s, go) {
    askFirst(row, button, t(`manage.confirm.${s}`), t(`manage.confirmYes.${s}`), t("manage.confirmNo"), go, s === "withdrawn");
  }

  function editor(r) {
    const edit = h("details", { class: "editbox" }, h("summary", {}, t("manage.edit")));
    areaChoices().then((areas) => {
      const form = postForm(r.kind, areas, r);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const body = checked(form, true);
        if (body) change("PATCH", `/records/${r.id}`, body, t("manage.saved"), form);
      });
      edit.append(form);
    });
    return edit;
  }

  function replies(r) {
    const title = isMain ? t("manage.replies") : t(`manage.repliesTo.${r.kind}`);
    const section = h("section", { class: "replies", "aria-labelledby": `replies-${n}` }, h(sub, { id: `replies-${n}` }, title));
    api("GET", `/records/${r.id}/replies`, { token }).then((answer) => {
      if (!answer.replies.length) section.append(h("p", {}, t("manage.noReplies")));
      const list = h("ul", { class: "reply-list" });
      for (const reply of answer.replies) {
        list.append(h("li", {}, h("article", { class: "reply-item" },
          h("p", { class: "when" }, h("time", { datetime: reply.sent_at }, dateTime(reply.sent_at))),
          h("p", { class: "message", dir: "auto" }, reply.message),
          reply.contact ? h("p", { class: "contact" }, h("strong", {}, t("reply.contact")), " ", h("span", { dir: "auto" }, reply.contact)) : null,
        )));
      }
      section.append(list);
    }).catch((err) => section.append(notice(errorText(err), "error")));
    return section;
  }

  // Each change is a new signed version with a new id. If this node no
  // longer answers for the id in the link the member saved, give them the
  // new link (the token stays the same).
  async function warnIfLinkChanged(fresh) {
    if (fresh.id === route.id) return;
    try {
      await api("GET", `/records/${route.id}`);
      return;
    } catch (err) {
      if (err.status !== 404) return;
    }
    const input = h("input", { readonly: true, value: `${location.origin}/#/manage/${fresh.id}/${token}`, class: "link" });
    const copied = h("span", { role: "status" });
    const copy = h("button", { type: "button" }, t("post.copy"));
    copy.addEventListener("click", async () => { copied.textContent = (await copyText(input)) ? t("post.copied") : t("post.copyFailed"); });
    status.append(h("div", { class: "manage-link" }, h("p", { class: "important" }, t("manage.newLink")), field(t("post.manageLink"), input), h("p", { class: "actions" }, copy, " ", copied)));
  }

  redraw(initial, "");
  return box;
}
