// Bar charts as inline SVG, built with DOM calls (no library, no markup
// strings). A chart is drawn at the size it is shown: one SVG unit is one CSS
// pixel, so its text is never scaled below FONT_PX (a viewBox squeezed onto a
// phone shrinks text). The label column, the numbers and the legend are
// measured from their own text in the chart's font (so a longer language's
// words are never clipped), the bars take the room left, and the chart is
// drawn again when its box changes width. Every bar has its number written
// beside it, so it reads without colour and in print; screen readers get the
// same numbers as a table (the drawing itself is hidden from them). A count
// the node suppresses (null: fewer than 5) is drawn as a hatched stub
// labelled "fewer than 5", never as a number; 0 is 0.
import { t } from "./i18n.js?v=__V__";
import { h } from "./dom.js?v=__V__";

const NS = "http://www.w3.org/2000/svg";
const FONT_PX = 13;
const BAR_H = 16, BAR_GAP = 3, GROUP_GAP = 12, SWATCH = 13, PAD = 6;

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function countText(n) {
  return n === null || n === undefined ? t("report.fewer") : n.toLocaleString(document.documentElement.lang);
}

// The width of a text in the chart's font, in CSS pixels.
let context = null;
function measure(text) {
  if (!context) context = document.createElement("canvas").getContext("2d");
  context.font = `${FONT_PX}px ${getComputedStyle(document.body).fontFamily}`;
  return Math.ceil(context.measureText(String(text)).width);
}

function fit(text, width) {
  const s = String(text);
  if (measure(s) <= width) return s;
  let cut = s.length;
  while (cut > 1 && measure(`${s.slice(0, cut)}…`) > width) cut--;
  return `${s.slice(0, cut)}…`;
}

// rows: [{label, values: [n|null, ...]}]; series: [{name, cls}] (one per value);
// keyName: what the labels are (the table's first column).
export function barChart(title, rows, series, keyName) {
  const drawing = h("div", { class: "chart-drawing", "aria-hidden": "true" });
  const table = h("table", {},
    h("caption", {}, title),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, keyName), series.map((s) => h("th", { scope: "col" }, s.name)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, h("th", { scope: "row" }, r.label), r.values.map((v) => h("td", {}, countText(v)))))),
  );
  let drawnAt = -1;
  const draw = () => {
    const width = Math.floor(drawing.clientWidth);
    if (width <= 0 || width === drawnAt) return;
    drawnAt = width;
    drawing.replaceChildren(chart(title, rows, series, width));
  };
  new ResizeObserver(draw).observe(drawing);
  // In a hidden box, not hidden itself: a table grows to its content whatever its width.
  return h("div", { class: "chart-box" }, drawing, h("div", { class: "sr-only" }, table));
}

function chart(title, rows, series, width) {
  const labelW = Math.min(Math.max(...rows.map((r) => measure(r.label))) + PAD, Math.round(width * 0.4));
  const numW = Math.max(...rows.flatMap((r) => r.values.map((v) => measure(countText(v))))) + PAD;
  const barMax = Math.max(24, width - labelW - numW - PAD);
  // The legend flows like text: each entry as wide as its name, a new line when the next would not fit.
  const lineH = FONT_PX + 9;
  const legend = [];
  let x = 0, line = 0;
  for (const s of series) {
    const w = SWATCH + 5 + measure(s.name);
    if (x > 0 && x + w > width) { x = 0; line++; }
    legend.push({ s, x, y: line * lineH });
    x += w + 16;
  }
  const legendH = (line + 1) * lineH + 4;
  const groupH = series.length * (BAR_H + BAR_GAP) + GROUP_GAP;
  const height = legendH + rows.length * groupH;
  const max = Math.max(5, ...rows.flatMap((r) => r.values.map((v) => v || 0)));
  const root = svg("svg", { class: "chart", width, height, viewBox: `0 0 ${width} ${height}`, "font-size": FONT_PX, focusable: "false" });
  root.append(svg("title", {}, title));
  for (const { s, x: at, y } of legend) {
    root.append(svg("rect", { x: at, y: y + 3, width: SWATCH, height: SWATCH, class: `bar ${s.cls}` }),
      svg("text", { x: at + SWATCH + 5, y: y + FONT_PX + 1, class: "legend" }, s.name));
  }
  rows.forEach((row, r) => {
    const top = legendH + r * groupH;
    const middle = top + (series.length * (BAR_H + BAR_GAP)) / 2;
    root.append(svg("text", { x: labelW - PAD, y: middle + FONT_PX / 2 - 2, class: "label", "text-anchor": "end" }, fit(row.label, labelW - PAD)));
    row.values.forEach((value, i) => {
      const y = top + i * (BAR_H + BAR_GAP);
      const hidden = value === null || value === undefined;
      const w = hidden ? 4 : Math.max(1, Math.round((value / max) * barMax));
      const bar = svg("rect", { x: labelW, y, width: w, height: BAR_H, class: `bar ${series[i].cls}${hidden ? " suppressed" : ""}` });
      bar.append(svg("title", {}, `${row.label}, ${series[i].name}: ${countText(value)}`));
      root.append(bar, svg("text", { x: labelW + w + 4, y: y + BAR_H - 4, class: hidden ? "num suppressed" : "num" }, countText(value)));
    });
  });
  return root;
}
