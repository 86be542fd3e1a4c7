// #/ : browse and search open needs and offers. The filters live in the
// hash (#/?q=coat&kind=need), so a search can be shared, bookmarked and
// undone with the back button; "Show more" follows the API's cursor and
// moves the focus to the first new card (the list itself is not a live
// region: only what was added is announced). The limits and lists come from
// the node (api.js NODE). Near the top, "What we heard" (the chapter's newest
// findings, heard.js) is loaded after the list is drawn, so it never weighs on
// the first load.
import { CATEGORY_SLUGS, NODE, api, categoryName, rule } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import { date, errorText, field, h, languageName, notice, select } from "./dom.js?v=__V__";

const FILTERS = ["q", "kind", "category", "area", "urgency", "language", "order"];
const PAGE_SIZE = 20;
const ORDERS = rule("search", "order").enum || []; // the first is the API's default

export function show(main, route) {
  const q = route.query;
  const value = (name) => q.get(name) || "";
  const filtersOpen = FILTERS.some((n) => n !== "q" && n !== "order" && q.get(n));
  const form = h("form", { class: "filters", role: "search" },
    h("div", { class: "quick" },
      field(t("browse.text"), h("input", { type: "search", name: "q", value: value("q"), maxlength: rule("search", "q").maxLength })),
      h("button", { type: "submit" }, t("browse.search")),
    ),
    h("details", { class: "filterbox", open: filtersOpen },
      h("summary", {}, t("browse.filters")),
      h("div", { class: "grid" },
        field(t("browse.kind"), select("kind", [["", t("browse.all")], ["need", t("kind.needs")], ["offer", t("kind.offers")]], value("kind"))),
        field(t("field.category"), select("category", [["", t("browse.any")], ...CATEGORY_SLUGS.map((c) => [c, categoryName(c)])], value("category"))),
        field(t("field.area"), h("input", { name: "area", value: value("area"), autocapitalize: "none", spellcheck: "false" }), t("browse.areaHint")),
        field(t("field.urgency"), select("urgency", [["", t("browse.any")], ...NODE.urgencies.map((u) => [u, t(`urgency.${u}`)])], value("urgency"))),
        field(t("browse.language"), h("input", { name: "language", value: value("language"), autocapitalize: "none", spellcheck: "false" }), t("browse.languageHint")),
        field(t("browse.order"), select("order", ORDERS.map((o) => [o, t(`order.${o}`)]), value("order") || ORDERS[0])),
      ),
      h("div", { class: "actions" }, h("button", { type: "submit" }, t("browse.apply"))),
    ),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const name of FILTERS) {
      const v = form.elements[name].value.trim();
      if (v && !(name === "order" && v === ORDERS[0])) params.set(name, v);
    }
    const text = params.toString();
    location.hash = text ? `#/?${text}` : "#/";
  });
  const list = h("ul", { class: "cards" });
  const status = h("div");
  const added = h("p", { class: "sr-only", role: "status" });
  const more = h("button", { type: "button", class: "secondary", hidden: true }, t("browse.more"));
  const heard = h("section", { class: "heard", "aria-labelledby": "heard-title", hidden: true });
  main.append(
    h("h1", {}, t("browse.title")),
    h("p", { class: "lead" }, t("browse.lead"), " ", h("a", { href: "#/post" }, t("browse.postLink"))),
    heard, form, status, list, more, added,
  );
  const query = { limit: PAGE_SIZE };
  for (const name of FILTERS) if (q.get(name)) query[name] = q.get(name);
  let cursor = null;
  async function load() {
    more.disabled = true;
    try {
      const page = await api("GET", "/records", { query: cursor ? { ...query, cursor } : query });
      if (!cursor && page.records.length === 0) status.replaceChildren(notice(t("browse.none")));
      const paging = Boolean(cursor);
      const items = page.records.map((record) => h("li", {}, card(record)));
      list.append(...items);
      cursor = page.next;
      more.hidden = !cursor;
      if (paging && items.length) {
        // After "Show more": say how many came, and go on reading from the first of them.
        added.textContent = tn("browse.moreShown", items.length);
        items[0].querySelector("a").focus();
      }
    } catch (err) {
      status.replaceChildren(notice(errorText(err), "error"));
    } finally {
      more.disabled = false;
    }
  }
  more.addEventListener("click", load);
  return load().then(() => {
    // After the first paint, on the home page itself (not a search): what the chapter heard, if anything.
    if (FILTERS.some((name) => q.get(name))) return;
    requestAnimationFrame(() => setTimeout(() => {
      if (heard.isConnected) import("./heard.js?v=__V__").then((m) => m.show(heard)).catch(() => {});
    }, 0));
  });
}

// One record as a summary card; shared by the browse, record, manage and organizer views.
// Its title is an h2 in a list under the page's h1, an h3 in a section (level 3).
export function card(record, extra, level = 2) {
  const facts = [
    categoryName(record.category),
    record.area && t("card.area", { area: record.area }),
    record.urgency && record.urgency !== "normal" && t(`urgency.${record.urgency}`),
    record.quantity && t("card.quantity", { quantity: record.quantity }),
    record.needed_by && t("card.neededBy", { date: date(record.needed_by) }),
    record.languages && record.languages.length && record.languages.map(languageName).join(", "),
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
