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

// The node's key in hex, from its ma1... text form (base32 of the key and a checksum).
export function keyHex(text) {
  const body = String(text || "").replace(/^ma1/, "").toUpperCase();
  let bits = 0, value = 0, hex = "";
  for (const c of body) {
    const n = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".indexOf(c);
    if (n < 0) return "";
    value = (value << 5) | n;
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      hex += ((value >> bits) & 255).toString(16).padStart(2, "0");
    }
  }
  return hex.slice(0, 64);
}

export async function show(main) {
  main.append(chapterNav("decisions"), h("h1", {}, t("dec.title")), h("p", { class: "lead" }, t("dec.lead")));
  const most = rule("search", "limit").maximum;
  let decisions, nodes;
  try {
    [decisions, nodes] = await Promise.all([
      api("GET", "/records", { query: { kind: "decision", limit: most } }),
      api("GET", "/records", { query: { kind: "node", limit: most } }),
    ]);
  } catch (err) {
    main.append(notice(errorText(err), "error"));
    return;
  }
  const ours = keyHex(NODE.key);
  const names = new Map(nodes.records.map((r) => [r.author, r.name]));
  const newest = (a, b) => (b.created_at > a.created_at ? 1 : b.created_at < a.created_at ? -1 : (b.seq || 0) - (a.seq || 0));
  const own = decisions.records.filter((r) => r.author === ours).sort(newest);
  const peers = decisions.records.filter((r) => r.author !== ours).sort(newest);
  append(main, [
    h("section", { "aria-labelledby": "own-title" },
      h("h2", { id: "own-title" }, t("dec.ours", { name: NODE.name || t("dec.thisChapter") })),
      own.length ? h("ul", { class: "cards" }, own.map((r) => h("li", {}, decision(r)))) : h("p", {}, t("dec.none"))),
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
