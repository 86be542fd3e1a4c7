// #/report : the community needs report, for the chapter's meetings and for
// the members. Built by the node from every record it holds (its own and its
// peers') over up to a year: posts live at most about 3 months, and the node
// keeps the rounded counts of those that expired. The node says its default
// and longest period; the page offers 4, 8, 13 and 26 weeks besides. Every count
// arrives rounded to the nearest 5; a count of 1 to 4 arrives as null and is
// shown as "fewer than 5"; 0 is 0. The weeks before the node's first post
// are left out by the node; the page shows the weeks it gets.
// First comes "What we heard": the findings the organizers wrote from these
// figures, returned to the community to answer (findings.js); organizers
// write one here too.
// Prints on paper as it reads on screen (app.css has the print rules).
import { NODE, api, categoryName } from "./api.js?v=__V__";
import { t, tn } from "./i18n.js?v=__V__";
import "./i18n-views.js?v=__V__"; // this view's strings
import "./i18n-massline.js?v=__V__"; // the findings' strings
import { errorText, h, notice, select } from "./dom.js?v=__V__";
import { barChart, countText } from "./charts.js?v=__V__";
import { findingContext, findingList, writeSection } from "./findings.js?v=__V__";
import { organizerToken } from "./chapter.js?v=__V__";

const { default_weeks: DEFAULT_WEEKS, max_weeks: MAX_WEEKS } = NODE.report;
// A month, two, a quarter, half a year (the page's choices), the chapter's default and the node's longest.
const PERIODS = [4, 8, 13, 26];
const WEEKS = [...new Set([...PERIODS, DEFAULT_WEEKS, MAX_WEEKS])].filter((w) => w <= MAX_WEEKS).sort((a, b) => a - b);

export async function show(main, route, flash) {
  const weeks = WEEKS.includes(Number(route.query && route.query.get("weeks"))) ? Number(route.query.get("weeks")) : DEFAULT_WEEKS;
  const chooser = select("weeks", WEEKS.map((w) => [String(w), t("report.weeksOption", { weeks: w })]), String(weeks));
  chooser.id = "report-weeks";
  chooser.addEventListener("change", () => { location.hash = `#/report?weeks=${chooser.value}`; });
  const print = h("button", { type: "button", class: "secondary" }, t("report.print"));
  print.addEventListener("click", () => window.print());
  main.append(
    h("h1", {}, t("report.title")),
    h("p", { class: "lead" }, t("report.lead")),
    h("p", { class: "rounding" }, t("report.rounding")),
    h("div", { class: "actions wrap no-print" },
      h("label", { for: "report-weeks" }, t("report.period")), chooser, print,
      h("a", { href: `/api/v1/report.csv?weeks=${weeks}`, download: `community-needs-${weeks}w.csv`, class: "button secondary" }, t("report.csv")),
    ),
  );
  const heard = h("section", { class: "heard-all", "aria-labelledby": "heard-title" },
    h("h2", { id: "heard-title" }, t("fi.heard")), h("p", { class: "lead" }, t("fi.heardLead")));
  if (flash) heard.append(notice(flash, "ok"));
  main.append(heard);
  let report, ctx, token;
  try {
    [report, ctx, token] = await Promise.all([
      api("GET", "/report", { query: { weeks } }),
      findingContext().catch((err) => err),
      organizerToken(),
    ]);
  } catch (err) {
    main.append(notice(errorText(err), "error"));
    return;
  }
  if (ctx instanceof Error) heard.append(notice(errorText(ctx), "error"));
  else {
    heard.append(findingList(ctx));
    if (token) {
      heard.append(writeSection(report, ctx, token, (finding) => {
        main.replaceChildren();
        show(main, route, t("fi.published")).then(() => {
          const link = main.querySelector(`a[href="#/finding/${finding.id}"]`);
          if (link) link.focus();
        });
      }));
    }
  }
  const tot = report.totals;
  const median = report.fulfilment && report.fulfilment.median_days;
  main.append(
    h("p", { class: "generated" }, t("report.generated", { date: new Date(report.generated_at).toLocaleString(document.documentElement.lang) }), " ", t("report.privacy")),
    h("section", { class: "totals", "aria-labelledby": "totals-title" },
      h("h2", { id: "totals-title" }, t("report.totals")),
      h("dl", { class: "figures" },
        figure(t("report.needs"), countText(tot.needs)),
        figure(t("report.offers"), countText(tot.offers)),
        figure(t("report.fulfilled"), countText(tot.fulfilled_needs)),
        figure(t("report.open"), countText(tot.open_needs)),
        figure(t("report.median"), median === null || median === undefined ? t("report.noMedian") : tn("report.days", median)),
      ),
    ),
  );
  const series = [
    { name: t("report.needs"), cls: "need" },
    { name: t("report.offers"), cls: "offer" },
    { name: t("report.fulfilled"), cls: "fulfilled" },
  ];
  const section = (id, title, keyName, rows, label) => {
    const s = h("section", { class: "chart-section", "aria-labelledby": id }, h("h2", { id }, title));
    if (!rows.length) s.append(h("p", {}, t("report.empty")));
    else s.append(barChart(title, rows.map((r) => ({ label: label(r), values: [r.needs, r.offers, r.fulfilled] })), series, keyName));
    return s;
  };
  main.append(
    section("by-category", t("report.byCategory"), t("field.category"), report.by_category, (r) => categoryName(r.category)),
    section("by-area", t("report.byArea"), t("field.area"), report.by_area, (r) => r.area),
    section("by-week", t("report.byWeek"), t("report.week"), report.by_week, (r) => r.week),
  );
  main.append(
    outrunTable("outrun-title", t("report.outrun"), t("report.outrunLead"), t("report.noOutrun"), t("field.category"), report.outrun, (r) => categoryName(r.category)),
    outrunTable("outrun-area-title", t("report.outrunArea"), t("report.outrunAreaLead"), t("report.noOutrunArea"), t("field.area"), report.outrun_by_area || [], (r) => r.area),
  );
}

// Where needs outrun offers, as a table: one row per category or area.
function outrunTable(id, title, lead, none, keyName, rows, key) {
  const s = h("section", { class: "outrun", "aria-labelledby": id }, h("h2", { id }, title));
  if (!rows.length) {
    s.append(h("p", {}, none));
    return s;
  }
  s.append(h("p", {}, lead), h("table", {},
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, keyName), h("th", { scope: "col" }, t("report.needs")), h("th", { scope: "col" }, t("report.offers")))),
    h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row" }, key(r)), h("td", {}, countText(r.needs)), h("td", {}, countText(r.offers))))),
  ));
  return s;
}

function figure(name, value) {
  return h("div", {}, h("dt", {}, name), h("dd", {}, value));
}
