// View 3: the model explorer. `cnnlab summary` / `cnnlab compare` (cnnlab.analysis) as a sortable
// table and per-layer charts (the lecture's AlexNet figure), the receptive field's growth.
import { api, el, fmtInt, fmtShort, shared, showError } from "./api.js";
import { barChart, lineChart } from "./charts.js";

const $ = (id) => document.getElementById(id);
let rows = [], sortKey = "index", sortDir = 1;
const WEIGHTED = ["conv", "linear", "matmul"];   // the lecture's per-layer figure: conv and fc layers

const COLUMNS = [
  ["index", "#", (r) => r.index, String],
  ["name", "layer", (r) => r.name, String, "l"],
  ["type", "type", (r) => r.type, String, "l"],
  ["input", "input", (r) => size(r.input_shape), String],
  ["output", "output", (r) => size(r.output_shape), String],
  ["window", "kernel / stride / pad", (r) => window_(r), String],
  ["params", "params", (r) => r.params, fmtInt],
  ["macs", "MACs", (r) => r.macs, fmtInt],
  ["memory", "output KB", (r) => r.output_kb, (v) => v.toFixed(1)],
  ["rf", "receptive field", (r) => rfSize(r), (v) => (v === Infinity ? "all" : v === 0 ? "" : String(v))],
];

function size(s) { return s ? s.join("x") : ""; }
function window_(r) { return r.kernel ? `${r.kernel.join("x")} / ${r.stride.join(",")} / ${r.padding ? r.padding.join(",") : 0}` : ""; }
function rfSize(r) { return !r.rf ? 0 : r.rf.size === "all" ? Infinity : r.rf.size[0]; }

export async function initExplorer() {
  shared.models = await api("/api/models");
  const families = new Map();
  for (const m of shared.models) {
    if (!families.has(m.family)) families.set(m.family, el("optgroup", { label: m.family }));
    families.get(m.family).append(el("option", { value: m.name, text: m.name }));
  }
  $("ex-model").replaceChildren(...families.values());
  $("ex-model").value = "alexnet";
  $("model-names").replaceChildren(...shared.models.map((m) => el("option", { value: m.name })));
  $("ex-show").addEventListener("click", show);
  $("ex-model").addEventListener("change", () => { $("ex-run").value = ""; show(); });
  $("ex-run").addEventListener("change", show);
  $("ex-size").addEventListener("change", show);
  $("cmp-show").addEventListener("click", compare);
  await show();
}

export function fillRuns(runs) {
  const select = $("ex-run"), current = select.value;
  select.replaceChildren(el("option", { value: "", text: "–" }),
    ...runs.filter((r) => r.has_model).map((r) => el("option", { value: r.id, text: `${r.id} (${r.model})` })));
  select.value = current;
}

export async function show() {
  const run = $("ex-run").value, size = $("ex-size").value.trim();
  const q = new URLSearchParams(run ? { run } : { model: $("ex-model").value });
  if (size) q.set("size", size);
  $("ex-totals").textContent = "counting…";
  try {
    const s = await api(`/api/summary?${q}`);
    render(s);
    showError(null);
  } catch (err) { $("ex-totals").textContent = ""; showError(err); }
}

function render(s) {
  const card = s.card;
  $("ex-card").textContent = card
    ? `${card.paper}${card.year ? ` (${card.year})` : ""} · reported: ${fmtShort(card.params)} params, ${fmtShort(card.macs)} MACs` +
      (card.top1 ? `, top-1 ${card.top1}% on ${card.dataset}` : "")
    : s.label;
  const t = $("ex-totals");
  t.replaceChildren(`${s.label} at ${s.input_size.join("x")}: `,
    el("b", { id: "ex-total-params", text: fmtInt(s.params.total) }), " parameters · ",
    el("b", { id: "ex-total-macs", text: fmtInt(s.totals.macs) }), " MACs · ",
    el("b", { text: fmtInt(s.totals.flops) }), " FLOPs · activation memory ",
    el("b", { text: `${fmtInt(s.memory.lecture_bytes / 1024)} KB` }), " (conv/fc/pool outputs), peak ",
    el("b", { text: `${fmtInt(s.memory.peak_bytes / 1024)} KB` }));
  t.title = s.convention;
  rows = s.layers;
  sortKey = "index"; sortDir = 1;
  table();
  const label = (r) => (r.name.length > 16 ? "…" + r.name.slice(-15) : r.name);
  barChart($("ex-chart-params"), rows.filter((r) => r.params > 0 && WEIGHTED.includes(r.layer_kind)).map((r) => ({ label: label(r), value: r.params, title: `${r.name}: ${fmtInt(r.params)} params` })));
  barChart($("ex-chart-macs"), rows.filter((r) => r.macs > 0).map((r) => ({ label: label(r), value: r.macs, title: `${r.name}: ${fmtInt(r.macs)} MACs` })));
  barChart($("ex-chart-memory"), rows.filter((r) => r.lecture_bytes > 0).map((r) => ({ label: label(r), value: r.lecture_bytes / 1024, title: `${r.name}: ${(r.lecture_bytes / 1024).toFixed(1)} KB` })));
  const growth = s.rf_growth.map((g, i) => [i + 1, g.size[0]]);
  lineChart($("ex-chart-rf"), [{ name: "receptive field (input pixels)", points: growth }], { xLabel: "conv / pool layer", width: 640, height: 240 });
}

function table() {
  const sorted = [...rows];
  const col = COLUMNS.find((c) => c[0] === sortKey);
  sorted.sort((a, b) => {
    const x = col[2](a), y = col[2](b);
    return (typeof x === "number" ? x - y : String(x).localeCompare(String(y))) * sortDir;
  });
  const head = el("tr", {}, ...COLUMNS.map(([key, title, , , cls]) => {
    const th = el("th", { class: (cls || "") + (key === sortKey ? (sortDir > 0 ? " sorted-asc" : " sorted-desc") : ""), text: title, "data-key": key });
    th.addEventListener("click", () => { sortDir = key === sortKey ? -sortDir : key === "index" || key === "name" || key === "type" ? 1 : -1; sortKey = key; table(); });
    return th;
  }));
  const body = sorted.map((r) => el("tr", {}, ...COLUMNS.map(([, , get, f, cls]) => el("td", { class: cls || "", text: f(get(r)) }))));
  $("ex-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
}

async function compare() {
  const names = $("cmp-models").value.split(/[ ,]+/).filter(Boolean);
  const size = $("ex-size").value.trim();
  const q = new URLSearchParams({ models: names.join(",") });
  if (size) q.set("size", size);
  try {
    const c = await api(`/api/compare?${q}`);
    const base = c.models[0];
    const ratio = (v, b) => (b ? ` (${(v / b).toFixed(2)}x)` : "");
    const head = el("tr", {}, ...["model", "input", "params", "MACs", "memory KB (conv/fc/pool)", "peak KB", "receptive field", "top-1 (card)"].map((t, i) => el("th", { class: i === 0 ? "l" : "", text: t })));
    const body = c.models.map((m) => el("tr", {},
      el("td", { class: "l", text: m.model }), el("td", { text: m.input_size.join("x") }),
      el("td", { text: fmtInt(m.params) + ratio(m.params, base.params) }),
      el("td", { text: fmtInt(m.macs) + ratio(m.macs, base.macs) }),
      el("td", { text: fmtInt(m.memory_lecture_bytes / 1024) }), el("td", { text: fmtInt(m.peak_bytes / 1024) }),
      el("td", { text: m.rf || "" }), el("td", { text: m.top1 === null ? "–" : `${m.top1}%` })));
    $("cmp-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
    const chart = $("cmp-chart");
    const macs = el("div", { class: "grow" }), params = el("div", { class: "grow" });
    chart.replaceChildren(el("div", { class: "row" }, el("div", { class: "grow" }, el("h3", { text: "MACs" }), macs),
      el("div", { class: "grow" }, el("h3", { text: "parameters" }), params)));
    barChart(macs, c.models.map((m) => ({ label: m.model, value: m.macs })), { height: 200 });
    barChart(params, c.models.map((m) => ({ label: m.model, value: m.params })), { height: 200 });
    showError(null);
  } catch (err) { showError(err); }
}
