// #/roll : the chapter's members, for its members: each name, who invited
// whom, when they joined, whether they are still members, and the
// organizers (a live mandate) marked. The roll never leaves this node.
// Links to the organizers' log (on the organizer view).
import { t, tn } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { append, date, errorText, h, notice } from "./dom.js?v=__V__";
import { asMember, cardRefused, chapterNav, getCard, needCard } from "./chapter.js?v=__V__";

export async function show(main) {
  main.append(chapterNav("roll"), h("h1", {}, t("roll.title")), h("p", { class: "lead" }, t("roll.lead")));
  if (!getCard()) {
    needCard(main, () => show(main));
    return;
  }
  let found;
  try {
    found = await asMember("GET", "/members");
  } catch (err) {
    if (cardRefused(err)) needCard(main, () => show(main), err);
    else main.append(notice(errorText(err), "error"));
    return;
  }
  const active = found.members.filter((m) => m.status === "active");
  append(main, [
    h("p", {}, tn("roll.count", active.length)),
    found.founding ? notice(t("ch.founding")) : null,
    h("ul", { class: "roll" }, found.members.map((m) => h("li", { class: `member ${m.status}` },
      h("p", { class: "badges" },
        m.organizer ? h("span", { class: "badge organizer" }, t("roll.organizer")) : null,
        m.status !== "active" ? h("span", { class: "badge status" }, t(`roll.status.${m.status}`)) : null),
      h("p", { class: "name", dir: "auto" }, m.name),
      h("p", { class: "facts" },
        t("roll.joined", { date: date(m.joined_at) }), " · ",
        m.invited_by ? [t("roll.invitedBy"), " ", h("span", { dir: "auto" }, m.invited_by.name)] : t("roll.founding"))))),
    h("p", {}, h("a", { href: "#/organizer" }, t("roll.toLog"))),
  ]);
}
