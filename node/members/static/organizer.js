// #/organizer : for the chapter's organizers: a member whose card (kept on
// this device, chapter.js) holds a mandate the members granted, or, during
// the founding period (before the chapter's first organizers decision), the
// operator with the node's admin token typed in (kept in sessionStorage only,
// so it is gone when the tab closes), and the page says so. Open needs
// nobody has answered yet, most urgent and longest open first; flags members
// raised, grouped by post, each post with "Dismiss" (the flags were looked
// at, the post stays) and "Remove from this node" with a reason; the list of
// what was removed, when and why; and the organizers' log (what organizers
// did, by whom and why), which every member reads with their card. "Every
// open need has an answer" is said only when there are open needs: with none
// at all it says so. A card without a mandate is told so, and still reads the log.
// The mass line: this chapter's findings, each linking to its page where the
// notes left with its answers are (organizers only), and the members'
// suggested events (on #/events).
import { NODE, api, rule } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import "./i18n-views.js?v=__V__"; // this view's strings
import "./i18n-chapter.js?v=__V__"; // the chapter's (the founding period, mandates, the log)
import "./i18n-massline.js?v=__V__"; // the findings' and events' (the mass line)
import { date, errorText, field, h, notice } from "./dom.js?v=__V__";
import { card } from "./browse.js?v=__V__";
import { adminToken, chapterNav, dateTime, getCard, setAdminToken } from "./chapter.js?v=__V__";

export async function show(main, route, flash) {
  main.append(chapterNav("organizer"), h("h1", {}, t("org.title")), h("p", { class: "lead" }, t("org.lead")));
  const founding = Boolean(NODE.chapter && NODE.chapter.founding);
  if (founding) main.append(notice(t("org.founding")));
  const admin = adminToken();
  const memberCard = getCard();
  const token = admin || memberCard;
  const log = logSection(memberCard);
  if (!token) {
    main.append(founding ? login(main) : h("p", {}, t("org.needCard"), " ", h("a", { href: "#/me" }, t("org.toMe"))), log);
    return;
  }
  const out = h("button", { type: "button", class: "secondary" }, t("org.signOut"));
  out.addEventListener("click", () => {
    setAdminToken("");
    main.replaceChildren();
    show(main, route);
  });
  const status = h("div");
  if (flash) status.append(notice(flash, "ok"));
  const unanswered = h("section", { "aria-labelledby": "unanswered-title" }, h("h2", { id: "unanswered-title" }, t("org.unanswered")));
  const flags = h("section", { "aria-labelledby": "flags-title" }, h("h2", { id: "flags-title" }, t("org.flags")));
  const removals = h("section", { "aria-labelledby": "removals-title" }, h("h2", { id: "removals-title" }, t("org.removals")));
  const heard = h("section", { "aria-labelledby": "org-heard-title" }, h("h2", { id: "org-heard-title" }, t("org.heard")),
    h("p", {}, t("org.heardLead"), " ", h("a", { href: "#/report" }, t("org.toReport")), " · ", h("a", { href: "#/events" }, t("org.toEvents"))));
  const tools = h("div", {}, unanswered, flags, removals, heard);
  const who = admin ? h("p", {}, out) : h("p", { class: "facts" }, t("org.withCard"));
  main.append(who, status, tools, log);
  const fail = (err) => {
    if (admin && ["unauthorized", "forbidden", "card_invalid", "no_mandate"].includes(err.code)) {
      setAdminToken("");
      main.replaceChildren(chapterNav("organizer"), h("h1", {}, t("org.title")), notice(err.code === "no_mandate" ? errorText(err) : t("org.badToken"), "error"), login(main));
    } else if (err.code === "no_mandate" || err.code === "card_invalid") {
      // A member without a mandate: no organizer tools, but the log is theirs to read.
      who.remove();
      tools.replaceChildren(notice(t(err.code === "no_mandate" ? "org.noMandate" : "org.cardRefused"), "error"));
      if (founding) tools.append(login(main));
    } else status.replaceChildren(notice(errorText(err), "error"));
  };
  const remove = (record) => removeForm(record, token, () => { main.replaceChildren(); show(main, route, t("org.removed")); }, fail);
  try {
    const most = rule("organizer", "limit").maximum;
    const [open, raised, gone] = await Promise.all([
      api("GET", "/organizer/unanswered", { token }),
      api("GET", "/organizer/flags", { token, query: { limit: most } }),
      api("GET", "/organizer/removals", { token }),
    ]);
    const list = h("ul", { class: "cards" });
    for (const r of open.records) {
      list.append(h("li", {}, card(r, [h("p", { class: "facts" }, tn("org.daysOpen", r.days_open)), remove(r)], 3)));
    }
    if (open.records.length) unanswered.append(list);
    else {
      // Unanswered needs are open ones: is there any open need at all?
      const any = await api("GET", "/records", { query: { kind: "need", status: "open", limit: 1 } });
      unanswered.append(h("p", {}, t(any.records.length ? "org.noneUnanswered" : "org.noOpenNeeds")));
    }
    // One entry per flag, newest first: grouped by post (its current version
    // when the node still holds it), in the order of each post's newest flag.
    const groups = new Map();
    for (const f of raised.flags) {
      const key = f.record ? f.record.id : f.record_id;
      if (!groups.has(key)) groups.set(key, { record: f.record, recordId: f.record_id, flags: [] });
      groups.get(key).flags.push(f);
    }
    const flagList = h("ul", { class: "cards" });
    for (const group of groups.values()) {
      const dismiss = h("button", { type: "button", class: "secondary" }, t("org.dismiss"));
      dismiss.addEventListener("click", async () => {
        dismiss.disabled = true;
        try {
          await api("DELETE", `/organizer/flags/${group.recordId}`, { token });
          main.replaceChildren();
          show(main, route, t("org.dismissed"));
        } catch (err) {
          dismiss.disabled = false;
          fail(err);
        }
      });
      flagList.append(h("li", {}, h("div", { class: "flag-item" },
        group.record ? card(group.record, null, 3) : h("p", {}, t("org.flagGone")),
        h("p", { class: "facts" }, tn("org.flagCount", group.flags.length)),
        h("ul", { class: "flag-reasons" }, group.flags.map((f) => h("li", {},
          h("strong", {}, t(`flag.${f.reason}`)), " · ", date(f.flagged_at),
          f.note ? [" · ", h("span", { dir: "auto" }, f.note)] : null))),
        h("div", { class: "actions" }, dismiss),
        group.record ? remove(group.record) : null,
      )));
    }
    flags.append(groups.size ? flagList : h("p", {}, t("org.noFlags")));
    const goneList = h("ul", { class: "removal-list" });
    for (const r of gone.removals) {
      goneList.append(h("li", {},
        h("strong", {}, t(`kind.${r.kind}`)), " · ", date(r.removed_at), " · ",
        h("span", { class: "id" }, r.record_id.slice(0, 12)), h("br"),
        t("org.removedBecause"), " ", h("span", { dir: "auto" }, r.reason)));
    }
    removals.append(gone.removals.length ? goneList : h("p", {}, t("org.noRemovals")));
    const found = await api("GET", "/findings", { query: { limit: rule("findings", "limit").maximum } });
    const own = found.findings.filter((f) => f.own);
    heard.append(own.length
      ? h("ul", { class: "removal-list" }, own.map((f) => h("li", {}, h("a", { href: `#/finding/${f.id}`, dir: "auto" }, f.title), " · ", date(f.created_at))))
      : h("p", {}, t("fi.none")));
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
    setAdminToken(input.value.trim());
    main.replaceChildren();
    show(main, {});
  });
  return form;
}

function removeForm(record, token, done, fail) {
  const form = h("form", { class: "remove" },
    field(t("org.reason"), h("input", { name: "reason", required: true, maxlength: rule("removal", "reason").maxLength, autocomplete: "off" }), t("org.reasonHint")),
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

// The organizers' log: every member reads it with their card.
function logSection(memberCard) {
  const s = h("section", { id: "organizers-log", "aria-labelledby": "log-title" }, h("h2", { id: "log-title" }, t("org.log")));
  if (!memberCard) {
    s.append(h("p", {}, t("org.logNeedsCard"), " ", h("a", { href: "#/me" }, t("org.toMe"))));
    return s;
  }
  api("GET", "/organizer/log", { token: memberCard }).then((found) => {
    if (!found.entries.length) {
      s.append(h("p", {}, t("org.logEmpty")));
      return;
    }
    s.append(h("ul", { class: "removal-list log" }, found.entries.map((e) => h("li", {},
      h("strong", {}, t(`org.log.${e.action}`)), " · ", dateTime(e.at), " · ",
      e.organizer ? h("span", { dir: "auto" }, e.organizer) : t("org.log.operator"), h("br"),
      h("span", { class: "id" }, String(e.target).slice(0, 12)), " · ",
      t("org.removedBecause"), " ", h("span", { dir: "auto" }, e.reason)))));
  }).catch((err) => s.append(notice(errorText(err), "error")));
  return s;
}
