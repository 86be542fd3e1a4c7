// The page's entry point: the header, the language switch and the hash
// router. Each route's view is a module loaded when first needed, so the
// first load stays small. Routes (docs/WEB.md):
//   #/ browse   #/post   #/r/{id}   #/manage/{id}/{token}   #/organizer   #/report
//   the mass line: #/finding/{id}[/print]   #/events   #/event/{id}   #/learn
//   the chapter: #/join[/{code}]   #/card/{card}   #/me   #/proposals   #/proposals/new
//   #/p/{id}   #/roll   #/decisions
// The manage token, an invite code and a member card live only in the
// fragment: they never reach a server log or a Referer header (and a card is
// dropped from the address bar at once).
import { LANGUAGES, getLang, setLang, t } from "./i18n.js?v=__V__";
import { clear, errorText, h, notice } from "./dom.js?v=__V__";
import { NODE } from "./api.js?v=__V__";

const views = {
  browse: () => import("./browse.js?v=__V__"),
  post: () => import("./post.js?v=__V__"),
  record: () => import("./record.js?v=__V__"),
  manage: () => import("./manage.js?v=__V__"),
  organizer: () => import("./organizer.js?v=__V__"),
  report: () => import("./report.js?v=__V__"),
  join: () => import("./join.js?v=__V__"),
  me: () => import("./me.js?v=__V__"),
  proposals: () => import("./proposals.js?v=__V__"),
  propose: () => import("./propose.js?v=__V__"),
  proposal: () => import("./proposal.js?v=__V__"),
  roll: () => import("./roll.js?v=__V__"),
  decisions: () => import("./decisions.js?v=__V__"),
  finding: () => import("./findings.js?v=__V__"),
  handout: () => import("./findings.js?v=__V__"),
  events: () => import("./events.js?v=__V__"),
  event: () => import("./events.js?v=__V__"),
  learn: () => import("./events.js?v=__V__"),
};

// The main navigation's entry each view belongs to. Six entries fit a 360 px
// phone in two lines in either language: the organizers' view is reached
// from the chapter's own navigation (chapter.js), under Proposals.
const NAV_OF = {
  propose: "proposals", proposal: "proposals", roll: "proposals", decisions: "proposals", organizer: "proposals", join: "me",
  finding: "report", handout: "report", event: "events", learn: "events",
};

const HEX64 = /^[0-9a-f]{64}$/;
const PROPOSAL_ID = /^[0-9a-f]{8,32}$/;
const RECORD_ID = /^[0-9a-f]{8,64}$/; // an id or its start (a printed handout carries 12 characters)

export function parseRoute(hash) {
  const [path, queryText] = hash.replace(/^#/, "").split("?");
  let parts;
  try {
    parts = path.split("/").filter(Boolean).map((p) => decodeURIComponent(p));
  } catch {
    return { view: "missing" }; // a malformed % escape: no such page
  }
  const query = new URLSearchParams(queryText || "");
  if (parts.length === 0) return { view: "browse", query };
  if (parts[0] === "post" && parts.length === 1) return { view: "post", query };
  if (parts[0] === "r" && parts.length === 2 && HEX64.test(parts[1])) return { view: "record", id: parts[1] };
  if (parts[0] === "manage" && parts.length === 3 && HEX64.test(parts[1])) {
    return { view: "manage", id: parts[1], token: parts[2] };
  }
  if (parts[0] === "organizer" && parts.length === 1) return { view: "organizer" };
  if (parts[0] === "report" && parts.length === 1) return { view: "report" };
  if (parts[0] === "join" && parts.length <= 2) return { view: "join", code: parts[1] || "" };
  if (parts[0] === "card" && parts.length === 2) return { view: "me", card: parts[1] };
  if (parts.length === 1 && ["me", "proposals", "roll", "decisions"].includes(parts[0])) return { view: parts[0] };
  if (parts[0] === "proposals" && parts[1] === "new" && parts.length === 2) return { view: "propose" };
  if (parts[0] === "p" && parts.length === 2 && PROPOSAL_ID.test(parts[1])) return { view: "proposal", id: parts[1] };
  if (parts[0] === "finding" && RECORD_ID.test(parts[1] || "")) {
    if (parts.length === 2) return { view: "finding", id: parts[1], query };
    if (parts.length === 3 && parts[2] === "print") return { view: "handout", id: parts[1], query };
  }
  if (parts[0] === "event" && parts.length === 2 && RECORD_ID.test(parts[1])) return { view: "event", id: parts[1] };
  if (parts.length === 1 && (parts[0] === "events" || parts[0] === "learn")) return { view: parts[0], query };
  return { view: "missing" };
}

let renderCount = 0;

async function render() {
  const main = document.getElementById("main");
  const route = parseRoute(location.hash);
  const current = ++renderCount;
  markNav(route.view);
  if (route.view === "missing") {
    clear(main).append(h("h1", {}, t("missing.title")), h("p", {}, h("a", { href: "#/" }, t("nav.browse"))));
    return;
  }
  main.setAttribute("aria-busy", "true");
  try {
    const module = await views[route.view]();
    if (current !== renderCount) return; // the member moved on meanwhile
    clear(main);
    await module.show(main, route);
  } catch (err) {
    if (current === renderCount) clear(main).append(notice(errorText(err), "error"));
  } finally {
    if (current === renderCount) main.removeAttribute("aria-busy");
  }
  if (current === renderCount) {
    const heading = main.querySelector("h1");
    if (heading && document.activeElement === document.body) {
      heading.tabIndex = -1;
      heading.focus({ preventScroll: true });
    }
  }
}

function markNav(route) {
  const view = NAV_OF[route] || route;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
}

function header() {
  const nav = document.getElementById("nav");
  clear(nav);
  for (const [view, href] of [["browse", "#/"], ["post", "#/post"], ["report", "#/report"], ["events", "#/events"], ["proposals", "#/proposals"], ["me", "#/me"]]) {
    nav.append(h("a", { href, "data-view": view }, t(`nav.${view}`)));
  }
  const switcher = document.getElementById("lang");
  clear(switcher);
  const label = h("label", { for: "lang-select" }, t("lang.label"));
  const chooser = h("select", { id: "lang-select" });
  for (const [code, name] of LANGUAGES) chooser.append(h("option", { value: code, lang: code, selected: code === getLang() }, name));
  chooser.addEventListener("change", () => {
    setLang(chooser.value);
    start();
  });
  switcher.append(label, chooser);
  document.getElementById("skip").textContent = t("skip");
  document.getElementById("brand").textContent = t("title");
  // The chapter's name (the node's), on every page: which node this is.
  document.getElementById("chapter").textContent = NODE.name;
  document.getElementById("tagline").textContent = t("tagline");
  document.getElementById("footer").textContent = t("footer");
  document.title = NODE.name ? `${t("title")} · ${NODE.name}` : t("title");
}

function start() {
  document.documentElement.lang = getLang();
  header();
  render();
}

document.getElementById("skip").addEventListener("click", (event) => {
  event.preventDefault(); // "#main" is not a route
  document.getElementById("main").focus();
});
window.addEventListener("hashchange", () => {
  document.activeElement && document.activeElement.blur && document.activeElement.blur();
  render();
});
start();
