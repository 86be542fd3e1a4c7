// #/decisions : the decision log. Every decision is a signed public record
// (GET /api/v1/records?kind=decision, no card needed): this chapter's first,
// newest first, then those of peer chapters this node holds, each labelled
// with its chapter's name when the node holds that chapter's profile, else
// with the start of its key. Each says what it changed, its outcome, its
// counts and how many of the electorate voted.
import { NODE, api, rule } from "./api.js?v=__V__";
import { t } from "./i18n.js?v=__V__";
import "./i18n-chapter.js?v=__V__"; // this view's strings
import { append, date, errorText, h, notice } from "./dom.js?v=__V__";
import { changeText, chapterNav, countsText } from "./chapter.js?v=__V__";

export async function show(main) {
  main.append(chapterNav("decisions"), h("h1", {}, t("dec.title")), h("p", { class: "lead" }, t("dec.lead")));
  const most = rule("search", "limit").maximum;
  const ours = NODE.public_key;
  let own, decisions, nodes;
  try {
    [own, decisions, nodes] = await Promise.all([
      api("GET", "/records", { query: { kind: "decision", author: ours, limit: most } }),
      api("GET", "/records", { query: { kind: "decision", limit: most } }),
      api("GET", "/records", { query: { kind: "node", limit: most } }),
    ]);
  } catch (err) {
    main.append(notice(errorText(err), "error"));
    return;
  }
  const names = new Map(nodes.records.map((r) => [r.author, r.name]));
  const peers = decisions.records.filter((r) => r.author !== ours);
  const ownList = h("ul", { class: "cards" }, own.records.map((r) => h("li", {}, decision(r))));
  const ownSection = h("section", { "aria-labelledby": "own-title" },
    h("h2", { id: "own-title" }, t("dec.ours", { name: NODE.name || t("dec.thisChapter") })),
    own.records.length ? ownList : h("p", {}, t("dec.none")));
  // This chapter's history in full, a page at a time, however many decisions its peers have.
  let next = own.next;
  const more = h("button", { type: "button", class: "secondary" }, t("dec.more"));
  more.hidden = !next;
  more.addEventListener("click", async () => {
    more.disabled = true;
    try {
      const page = await api("GET", "/records", { query: { kind: "decision", author: ours, limit: most, cursor: next } });
      ownList.append(...page.records.map((r) => h("li", {}, decision(r))));
      next = page.next;
      more.hidden = !next;
    } catch (err) {
      ownSection.append(notice(errorText(err), "error"));
    } finally {
      more.disabled = false;
    }
  });
  ownSection.append(more);
  append(main, [
    ownSection,
    peers.length ? h("section", { "aria-labelledby": "peers-title" },
      h("h2", { id: "peers-title" }, t("dec.peers")),
      h("ul", { class: "cards" }, peers.map((r) => h("li", {}, decision(r, names.get(r.author) || t("dec.node", { key: r.author.slice(0, 12) })))))) : null,
  ]);
}

function decision(r, from) {
  const options = r.options || [];
  return h("article", { class: "card proposal closed" },
    h("p", { class: "badges" },
      h("span", { class: "badge kind" }, t(`ptype.${r.type}`)),
      h("span", { class: `badge outcome ${r.outcome}` }, t(`outcome.${r.outcome}`))),
    from ? h("p", { class: "eyebrow from", dir: "auto" }, t("dec.from", { name: from })) : null,
    h("h3", { class: "title", dir: "auto" }, r.title || ""),
    h("p", { class: "change" }, changeText(r.type, r.effect)),
    r.text ? h("p", { class: "details", dir: "auto" }, r.text) : null,
    h("p", { class: "facts" }, [
      countsText(r.counts, options),
      r.winner ? t("dec.winner", { option: options[r.winner - 1] || r.winner }) : "",
      t("p.turnout", { voted: r.turnout, electorate: r.electorate }),
      t("dec.closed", { date: date(r.closed_at) }),
      t("dec.number", { seq: r.seq }),
    ].filter(Boolean).join(" · ")),
  );
}
