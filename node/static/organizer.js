// #/organizer : for the node's organizers, with the admin token typed in
// (kept in sessionStorage only, so it is gone when the tab closes). Open
// needs nobody has answered yet, most urgent and longest open first; flags
// members raised; removing a post from this node with a reason.
import { api } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import { errorText, field, h, notice } from "./dom.js?v=__V__";
import { card } from "./browse.js?v=__V__";

const KEY = "mutualaid.admin";

export async function show(main, route, flash) {
  main.append(h("h1", {}, t("org.title")), h("p", { class: "lead" }, t("org.lead")));
  const token = sessionStorage.getItem(KEY);
  if (!token) {
    main.append(login(main));
    return;
  }
  const out = h("button", { type: "button", class: "secondary" }, t("org.signOut"));
  out.addEventListener("click", () => {
    sessionStorage.removeItem(KEY);
    main.replaceChildren();
    show(main, route);
  });
  const status = h("div");
  if (flash) status.append(notice(flash, "ok"));
  const unanswered = h("section", { "aria-labelledby": "unanswered-title" }, h("h2", { id: "unanswered-title" }, t("org.unanswered")));
  const flags = h("section", { "aria-labelledby": "flags-title" }, h("h2", { id: "flags-title" }, t("org.flags")));
  main.append(h("p", {}, out), status, unanswered, flags);
  const fail = (err) => {
    if (err.code === "unauthorized" || err.code === "forbidden") {
      sessionStorage.removeItem(KEY);
      main.replaceChildren(h("h1", {}, t("org.title")), notice(t("org.badToken"), "error"), login(main));
    } else status.replaceChildren(notice(errorText(err), "error"));
  };
  const remove = (record) => removeForm(record, token, () => { main.replaceChildren(); show(main, route, t("org.removed")); }, fail);
  try {
    const [open, raised] = await Promise.all([
      api("GET", "/organizer/unanswered", { token, query: { limit: 100 } }),
      api("GET", "/organizer/flags", { token }),
    ]);
    const list = h("ul", { class: "cards" });
    for (const r of open.records) {
      list.append(h("li", {}, card(r, [h("p", { class: "facts" }, tn("org.daysOpen", r.days_open)), remove(r)], 3)));
    }
    unanswered.append(open.records.length ? list : h("p", {}, t("org.noneUnanswered")));
    const flagList = h("ul", { class: "cards" });
    for (const f of raised.flags) {
      const about = f.record ? card(f.record, null, 3) : h("p", {}, t("org.flagGone"));
      flagList.append(h("li", {}, h("div", { class: "flag-item" },
        h("p", { class: "facts" }, t("org.flagLine", { reason: t(`flag.${f.reason}`), count: f.count })),
        f.note ? h("p", { dir: "auto" }, f.note) : null,
        about,
        f.record ? remove(f.record) : null,
      )));
    }
    flags.append(raised.flags.length ? flagList : h("p", {}, t("org.noFlags")));
  } catch (err) {
    fail(err);
  }
}

function login(main) {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true });
  const form = h("form", { class: "login" },
    field(t("org.token"), input, t("org.tokenHint")),
    h("div", { class: "actions" }, h("button", { type: "submit" }, t("org.signIn"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!input.value.trim()) return;
    sessionStorage.setItem(KEY, input.value.trim());
    main.replaceChildren();
    show(main, {});
  });
  return form;
}

function removeForm(record, token, done, fail) {
  const form = h("form", { class: "remove" },
    field(t("org.reason"), h("input", { name: "reason", required: true, maxlength: 300, autocomplete: "off" })),
    h("div", { class: "actions" }, h("button", { type: "submit", class: "danger" }, t("org.remove"))),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const reason = form.elements.reason.value.trim();
    if (!reason) return;
    try {
      await api("POST", "/organizer/removals", { token, body: { id: record.id, reason } });
      done();
    } catch (err) {
      fail(err);
    }
  });
  return h("details", { class: "removebox" }, h("summary", {}, t("org.removeOpen")), form);
}
