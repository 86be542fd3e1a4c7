// #/ : browse and search open needs and offers. The filters live in the
// hash (#/?q=coat&kind=need), so a search can be shared, bookmarked and
// undone with the back button; "Show more" follows the API's cursor.
import { api } from "./api.js?v=__V__";
import { CATEGORIES, URGENCIES, categoryName, t } from "./i18n.js?v=__V__";
import { date, errorText, field, h, notice, select } from "./dom.js?v=__V__";

const FILTERS = ["q", "kind", "category", "area", "urgency", "language", "order"];
const PAGE_SIZE = 20;

export function show(main, route) {
  const q = route.query;
  const value = (name) => q.get(name) || "";
  const filtersOpen = FILTERS.some((n) => n !== "q" && n !== "order" && q.get(n));
  const form = h("form", { class: "filters", role: "search" },
    h("div", { class: "quick" },
      field(t("browse.text"), h("input", { type: "search", name: "q", value: value("q"), maxlength: 200 })),
      h("button", { type: "submit" }, t("browse.search")),
    ),
    h("details", { class: "filterbox", open: filtersOpen },
      h("summary", {}, t("browse.filters")),
      h("div", { class: "grid" },
        field(t("browse.kind"), select("kind", [["", t("browse.all")], ["need", t("kind.needs")], ["offer", t("kind.offers")]], value("kind"))),
        field(t("field.category"), select("category", [["", t("browse.any")], ...CATEGORIES.map((c) => [c, categoryName(c)])], value("category"))),
        field(t("field.area"), h("input", { name: "area", value: value("area"), maxlength: 5, autocapitalize: "none", spellcheck: "false" }), t("browse.areaHint")),
        field(t("field.urgency"), select("urgency", [["", t("browse.any")], ...URGENCIES.map((u) => [u, t(`urgency.${u}`)])], value("urgency"))),
        field(t("browse.language"), h("input", { name: "language", value: value("language"), maxlength: 12, autocapitalize: "none", spellcheck: "false" }), t("browse.languageHint")),
        field(t("browse.order"), select("order", [["newest", t("order.newest")], ["urgency", t("order.urgency")]], value("order") || "newest")),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("browse.apply"))),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const v = form.elements[name].value.trim();
      if (v && !(name === "order" && v === "newest")) params.set(name, v);
    }
    const text = params.toString();
    location.hash = text ? `#/?${text}` : "#/";
  });
  const list = h("ul", { class: "cards", "aria-live": "polite" });
  const status = h("div");
  const more = h("button", { type: "button", class: "secondary", hidden: true }, t("browse.more"));
  main.append(
    h("h1", {}, t("browse.title")),
    h("p", { class: "lead" }, t("browse.lead"), " ", h("a", { href: "#/post" }, t("browse.postLink"))),
    form, status, list, more,
  );
  const query = { limit: PAGE_SIZE };
  for (const name of FILTERS) if (q.get(name)) query[name] = q.get(name);
  let cursor = null;
  async function load() {
    more.disabled = true;
    try {
      const page = await api("GET", "/records", { query: cursor ? { ...query, cursor } : query });
      if (!cursor && page.records.length === 0) status.replaceChildren(notice(t("browse.none")));
      for (const record of page.records) list.append(h("li", {}, card(record)));
      cursor = page.next;
      more.hidden = !cursor;
    } catch (err) {
      status.replaceChildren(notice(errorText(err), "error"));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", load);
  return load();
}

// One record as a summary card; shared by the browse, record, manage and organizer views.
// Its title is an h2 in a list under the page's h1, an h3 in a section (level 3).
export function card(record, extra, level = 2) {
  const facts = [
    categoryName(record.category),
    record.area && t("card.area", { area: record.area }),
    record.urgency && record.urgency !== "normal" && t(`urgency.${record.urgency}`),
    record.quantity,
    record.needed_by && t("card.neededBy", { date: date(record.needed_by) }),
    record.languages && record.languages.length && record.languages.join(", "),
    t("card.posted", { date: date(record.created_at) }),
  ].filter(Boolean);
  return h("article", { class: `card ${record.kind} urgency-${record.urgency || "normal"}` },
    h("p", { class: "badges" },
      h("span", { class: `badge ${record.kind}` }, t(`kind.${record.kind}`)),
      record.status && record.status !== "open" ? h("span", { class: "badge status" }, t(`status.${record.status}`)) : null,
    ),
    h(`h${level}`, { class: "title" }, h("a", { href: `#/r/${record.id}` }, record.title || "")),
    h("p", { class: "facts" }, facts.join(" · ")),
    extra || null,
  );
}
