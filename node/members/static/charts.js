// Bar charts as inline SVG, built with DOM calls (no library, no markup
// strings). Every bar also has its number written beside it, and the chart
// has a text title, so it reads without colour and in print. A count the
// node suppresses (null: fewer than 5) is drawn as a hatched stub labelled
// "fewer than 5", never as a number.
import { t } from "./i18n.js?v=__V__";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

export function countText(n) {
  return n === null || n === undefined ? t("report.fewer") : n.toLocaleString(document.documentElement.lang);
}

// rows: [{label, values: [n|null, ...]}]; series: [{name, cls}] (one per value).
export function barChart(title, rows, series) {
  const labelW = 110, barMax = 170, numW = 80, barH = 14, gap = 2, groupGap = 10;
  const groupH = series.length * (barH + gap) + groupGap;
  const legendH = 22;
  const height = legendH + rows.length * groupH + 4;
  const width = labelW + barMax + numW;
  const max = Math.max(5, ...rows.flatMap((r) => r.values.map((v) => v || 0)));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", class: "chart", width: "100%" });
  root.append(svg("title", {}, title));
  series.forEach((s, i) => {
    const x = labelW + i * 95;
    root.append(svg("rect", { x, y: 4, width: 12, height: 12, class: `bar ${s.cls}` }), svg("text", { x: x + 16, y: 14, class: "legend" }, s.name));
  });
  rows.forEach((row, r) => {
    const top = legendH + r * groupH;
    root.append(svg("text", { x: labelW - 6, y: top + (series.length * (barH + gap)) / 2 + 4, class: "label", "text-anchor": "end" }, truncate(row.label)));
    row.values.forEach((value, i) => {
      const y = top + i * (barH + gap);
      const hidden = value === null || value === undefined;
      const w = hidden ? 4 : Math.max(1, Math.round((value / max) * barMax));
      const bar = svg("rect", { x: labelW, y, width: w, height: barH, class: `bar ${series[i].cls}${hidden ? " suppressed" : ""}` });
      bar.append(svg("title", {}, `${row.label}, ${series[i].name}: ${countText(value)}`));
      root.append(bar, svg("text", { x: labelW + w + 4, y: y + barH - 3, class: hidden ? "num suppressed" : "num" }, countText(value)));
    });
  });
  return root;
}

function truncate(text) {
  const s = String(text);
  return s.length > 16 ? `${s.slice(0, 15)}…` : s;
}
