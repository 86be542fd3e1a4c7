// #/proposals : what the chapter is deciding. Open proposals first, each with
// what it would change, when it closes, how many of those who may vote have
// ("3 of 5 voted": never how) and my own vote; then the closed ones with
// their outcome and counts. A "Propose" button leads to #/proposals/new.
import { t } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { date, errorText, h, notice } from "./dom.js?v=__V__";
import {
  asMember, ballotText, cardRefused, changeText, chapterNav, countsText, fromNow, getCard, needCard,
} from "./chapter.js?v=__V__";

export async function show(main) {
  main.append(chapterNav("proposals"), h("h1", {}, t("props.title")), h("p", { class: "lead" }, t("props.lead")));
  if (!getCard()) {
    needCard(main, () => show(main));
    return;
  }
  let found;
  try {
    found = await asMember("GET", "/proposals");
  } catch (err) {
    if (cardRefused(err)) needCard(main, () => show(main), err);
    else main.append(notice(errorText(err), "error"));
    return;
  }
  const open = found.proposals.filter((p) => p.state === "open");
  const closed = found.proposals.filter((p) => p.state !== "open");
  main.append(
    h("p", { class: "actions" }, h("a", { href: "#/proposals/new", class: "button" }, t("props.propose"))),
    h("section", { "aria-labelledby": "open-title" },
      h("h2", { id: "open-title" }, t("props.open")),
      open.length ? h("ul", { class: "cards" }, open.map((p) => h("li", {}, item(p)))) : h("p", {}, t("props.noneOpen"))),
    h("section", { "aria-labelledby": "closed-title" },
      h("h2", { id: "closed-title" }, t("props.closed")),
      closed.length ? h("ul", { class: "cards" }, closed.map((p) => h("li", {}, item(p)))) : h("p", {}, t("props.noneClosed"))),
    h("p", {}, h("a", { href: "#/decisions" }, t("props.toDecisions"))),
  );
}

// One proposal as a card; shared with the proposal's own view for its facts.
export function item(p) {
  const facts = p.state === "open"
    ? [
        t("p.closes", { when: fromNow(p.closes_at) }),
        t("p.turnout", { voted: p.voted, electorate: p.electorate }),
        p.my_ballot ? t("p.myVote", { vote: ballotText(p.my_ballot, p.options) }) : t("p.notVoted"),
      ]
    : [
        t("p.openedOn", { date: date(p.opened_at) }),
        p.result ? countsText(p.result.counts, p.options) : "",
        p.result ? t("p.turnout", { voted: p.result.turnout, electorate: p.result.electorate }) : "",
      ];
  return h("article", { class: `card proposal ${p.state}` },
    h("p", { class: "badges" },
      h("span", { class: "badge kind" }, t(`ptype.${p.type}`)),
      p.state === "open"
        ? h("span", { class: "badge open" }, t("p.stateOpen"))
        : h("span", { class: `badge outcome ${p.result ? p.result.outcome : ""}` }, p.result ? t(`outcome.${p.result.outcome}`) : t("p.counting"))),
    h("h3", { class: "title" }, h("a", { href: `#/p/${p.id}`, dir: "auto" }, p.title)),
    h("p", { class: "change" }, changeText(p.type, p.effect, p.member_name)),
    h("p", { class: "facts" }, facts.filter(Boolean).join(" · ")),
  );
}
