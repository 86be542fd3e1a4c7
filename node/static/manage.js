// #/manage/{id}/{token} : the poster's own page, opened with the private
// manage link. Edit, renew, change the status and read the replies. The
// token is sent only as an Authorization header to this node's API.
import { api, node } from "./api.js?v=__V__";
import { t } from "./i18n.js?v=__V__";
import { copyText, date, errorText, field, h, notice } from "./dom.js?v=__V__";
import { details } from "./record.js?v=__V__";
import { postForm, readForm } from "./post.js?v=__V__";

export async function show(main, route) {
  const { token } = route;
  let record;
  try {
    record = await api("GET", `/records/${route.id}`);
  } catch (err) {
    main.append(h("h1", {}, t("manage.title")), notice(t("manage.missing"), "error"), notice(errorText(err), "error"));
    return;
  }
  const status = h("div", { class: "manage-status" });
  const view = h("div");
  main.append(h("p", { class: "private" }, t("manage.private")), status, view);
  const redraw = (fresh, message) => {
    record = fresh;
    // A change makes a new version with a new id: keep the address bar (and
    // so a reload or a bookmark made now) pointing at the current one.
    history.replaceState(null, "", `#/manage/${record.id}/${token}`);
    view.replaceChildren(details(record), actions(record), editor(record), replies(record));
    status.replaceChildren(message ? notice(message, "ok") : "");
  };

  async function change(method, path, body, message) {
    status.replaceChildren();
    try {
      const answer = await api(method, path, { body, token });
      redraw(answer.record, message);
      await warnIfLinkChanged(answer.record);
      status.focus();
    } catch (err) {
      status.replaceChildren(notice(err.status === 403 || err.status === 401 ? t("manage.badToken") : errorText(err), "error"));
    }
  }

  function actions(r) {
    const buttons = [];
    const statusButton = (s) => {
      const b = h("button", { type: "button", class: s === "withdrawn" ? "secondary" : "" }, t(`manage.mark.${s}`));
      b.addEventListener("click", () => change("POST", `/records/${r.id}/status`, { status: s }, t("manage.changed", { status: t(`status.${s}`) })));
      return b;
    };
    for (const s of ["open", "claimed", "fulfilled", "withdrawn"]) if (s !== r.status) buttons.push(statusButton(s));
    const renew = h("button", { type: "button", class: "secondary" }, t("manage.renew"));
    renew.addEventListener("click", () => change("PATCH", `/records/${r.id}`, { expires_in_days: 30 }, t("manage.renewed")));
    return h("section", { "aria-labelledby": "actions-title" },
      h("h2", { id: "actions-title" }, t("manage.actions")),
      h("p", {}, t("manage.expires", { date: date(r.expires_at) })),
      h("div", { class: "actions wrap" }, buttons, renew),
    );
  }

  function editor(r) {
    const box = h("details", { class: "editbox" }, h("summary", {}, t("manage.edit")));
    node().catch(() => ({ areas: [] })).then((info) => {
      const form = postForm(r.kind, info.areas, r);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        let body;
        try {
          body = readForm(form, true);
        } catch (err) {
          status.replaceChildren(notice(err.message, "error"));
          return;
        }
        change("PATCH", `/records/${r.id}`, body, t("manage.saved"));
      });
      box.append(form);
    });
    return box;
  }

  function replies(r) {
    const section = h("section", { class: "replies", "aria-labelledby": "replies-title" }, h("h2", { id: "replies-title" }, t("manage.replies")));
    api("GET", `/records/${r.id}/replies`, { token }).then((answer) => {
      if (!answer.replies.length) section.append(h("p", {}, t("manage.noReplies")));
      const list = h("ul", { class: "reply-list" });
      for (const reply of answer.replies) {
        list.append(h("li", {}, h("article", { class: "reply-item" },
          h("p", { class: "when" }, date(reply.sent_at)),
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
    const box = h("input", { readonly: true, value: `${location.origin}/#/manage/${fresh.id}/${token}`, class: "link" });
    const copied = h("span", { role: "status" });
    const copy = h("button", { type: "button" }, t("post.copy"));
    copy.addEventListener("click", async () => { copied.textContent = (await copyText(box)) ? t("post.copied") : t("post.copyFailed"); });
    status.append(h("div", { class: "manage-link" }, h("p", { class: "important" }, t("manage.newLink")), field(t("post.manageLink"), box), h("p", { class: "actions" }, copy, " ", copied)));
  }

  main.prepend(h("p", { class: "eyebrow" }, t("manage.title")));
  status.tabIndex = -1;
  redraw(record, "");
}
