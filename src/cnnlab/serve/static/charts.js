// Charts drawn by hand as SVG: bars per layer and lines per epoch.
import { fmtShort } from "./api.js";

const NS = "http://www.w3.org/2000/svg";

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "style") node.style.cssText = v; else node.setAttribute(k, v);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function frame(width, height, pad, yMax, yFormat) {
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img" });
  const ticks = 4;
  for (let i = 0; i <= ticks; i++) {
    const y = pad.t + (height - pad.t - pad.b) * (1 - i / ticks);
    root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: y, y2: y, class: "grid" }));
    root.append(svg("text", { x: pad.l - 4, y: y + 3, "text-anchor": "end" }, yFormat((yMax * i) / ticks)));
  }
  root.append(svg("line", { x1: pad.l, x2: pad.l, y1: pad.t, y2: height - pad.b, class: "axis" }));
  root.append(svg("line", { x1: pad.l, x2: width - pad.r, y1: height - pad.b, y2: height - pad.b, class: "axis" }));
  return root;
}

// bars: [{label, value, title}] -> one bar each, labels under the bars (rotated when crowded)
export function barChart(container, bars, { yFormat = fmtShort, width = 640, height = 240 } = {}) {
  container.replaceChildren();
  if (!bars.length) { container.textContent = "nothing to show"; return; }
  const crowded = bars.length > 12;
  const pad = { l: 52, r: 8, t: 8, b: crowded ? 70 : 28 };
  const yMax = niceMax(Math.max(...bars.map((b) => b.value)));
  const root = frame(width, height, pad, yMax, yFormat);
  const w = (width - pad.l - pad.r) / bars.length;
  const h = height - pad.t - pad.b;
  bars.forEach((b, i) => {
    const bh = (h * b.value) / yMax;
    const x = pad.l + i * w;
    const rect = svg("rect", { x: x + w * 0.12, y: pad.t + h - bh, width: Math.max(1, w * 0.76), height: Math.max(0, bh), class: "bar" });
    rect.append(svg("title", {}, b.title || `${b.label}: ${fmtShort(b.value)}`));
    root.append(rect);
    const lx = x + w / 2, ly = height - pad.b + 12;
    root.append(crowded
      ? svg("text", { x: lx, y: ly - 6, transform: `rotate(-60 ${lx} ${ly - 6})`, "text-anchor": "end" }, b.label)
      : svg("text", { x: lx, y: ly, "text-anchor": "middle" }, b.label));
  });
  container.append(root);
}

const COLOURS = ["#2f6fdf", "#e07b39", "#2a9d5b", "#b8409a", "#6a7385"];

// series: [{name, points: [[x, y], ...]}] -> lines with dots and a legend
export function lineChart(container, series, { yFormat = fmtShort, width = 460, height = 220, xLabel = "", yMin = null } = {}) {
  container.replaceChildren();
  const all = series.flatMap((s) => s.points).filter((p) => p[1] !== null && Number.isFinite(p[1]));
  if (!all.length) { container.textContent = "no data yet"; return; }
  // legend entries placed left to right, wrapping onto more rows above the plot
  const legend = [];
  let lx = 60, ly = 11;
  for (const s of series) {
    const w = 16 + 6 * s.name.length;
    if (lx + w > width && lx > 60) { lx = 60; ly += 13; }
    legend.push([lx, ly]);
    lx += w;
  }
  const pad = { l: 52, r: 10, t: ly + 7, b: 30 };
  const lo = yMin === null ? Math.min(0, ...all.map((p) => p[1])) : yMin;
  const yMax = niceMax(Math.max(...all.map((p) => p[1])) - lo) + lo;
  const xs = all.map((p) => p[0]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs, x0 + 1);
  const root = frame(width, height, pad, yMax - lo, (v) => yFormat(v + lo));
  const X = (x) => pad.l + ((x - x0) / (x1 - x0)) * (width - pad.l - pad.r);
  const Y = (y) => pad.t + (height - pad.t - pad.b) * (1 - (y - lo) / (yMax - lo));
  [x0, Math.round((x0 + x1) / 2), x1].forEach((x) =>
    root.append(svg("text", { x: X(x), y: height - pad.b + 13, "text-anchor": "middle" }, String(x))));
  root.append(svg("text", { x: width - pad.r, y: height - 4, "text-anchor": "end" }, xLabel));
  series.forEach((s, i) => {
    const pts = s.points.filter((p) => p[1] !== null && Number.isFinite(p[1]));
    const colour = s.colour || COLOURS[i % COLOURS.length];
    if (pts.length > 1) root.append(svg("polyline", { points: pts.map((p) => `${X(p[0])},${Y(p[1])}`).join(" "), fill: "none", stroke: colour, "stroke-width": 2 }));
    for (const p of pts) {
      const dot = svg("circle", { cx: X(p[0]), cy: Y(p[1]), r: 2.5, fill: colour });
      dot.append(svg("title", {}, `${s.name} @ ${p[0]}: ${yFormat(p[1])}`));
      root.append(dot);
    }
    root.append(svg("text", { x: legend[i][0], y: legend[i][1], class: "legend", style: `fill: ${colour}` }, "● " + s.name));
  });
  container.append(root);
}
