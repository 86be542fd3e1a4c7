// "What we heard", near the top of the home page: this chapter's newest
// findings (not one a later finding revised), each with a link to answer it,
// and a link to the report page where every finding is. The home page loads
// this module after its first paint (browse.js), so the first load stays
// small; with no finding yet, nothing is shown.
import { api } from "./api.js?v=__V__";
import { getLang, t } from "./i18n.js?v=__V__";
import "./i18n-massline.js?v=__V__"; // this section's strings
import { h } from "./dom.js?v=__V__";

const SHOWN = 2;
const ASKED = 10; // the newest findings asked for: this chapter's are among them unless peers wrote many since
const EXCERPT = 180; // characters of a finding's text shown here

export async function show(slot) {
  const found = await api("GET", "/findings", { query: { limit: ASKED } });
  const newest = found.findings.filter((f) => f.own && !f.revised_by).slice(0, SHOWN);
  if (!newest.length) return;
  slot.replaceChildren(
    h("h2", { id: "heard-title" }, t("heard.title")),
    h("ul", { class: "heard-list" }, newest.map((f) => h("li", {},
      h("a", { href: `#/finding/${f.id}`, class: "heard-link", dir: "auto" }, f.title),
      h("p", { class: "heard-text", dir: "auto" }, excerpt(f.text)),
      h("p", { class: "facts" }, t("heard.when", { date: new Date(f.created_at).toLocaleDateString(getLang(), { dateStyle: "medium" }) }), " · ",
        h("a", { href: `#/finding/${f.id}` }, t("heard.answer")))))),
    h("p", {}, h("a", { href: "#/report" }, t("heard.all"))),
  );
  slot.hidden = false;
}

function excerpt(text) {
  const chars = [...String(text || "")];
  return chars.length > EXCERPT ? `${chars.slice(0, EXCERPT).join("").trimEnd()}…` : chars.join("");
}
