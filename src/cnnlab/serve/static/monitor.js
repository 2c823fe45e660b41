// View 4: the training monitor. Runs under the served folders, their curves read from metrics.jsonl
// as the trainer appends to it (polled), and the PNGs of the run (curves, evaluation pictures).
import { api, el, showError } from "./api.js";
import { lineChart } from "./charts.js";

const $ = (id) => document.getElementById(id);
let selected = null, rows = [], picturesKey = "";

export function renderRuns(runs) {
  if (!selected && runs.length) selected = runs[0].id;
  const head = el("tr", {}, ...["run", "model", "data", "epochs", "val top-1 (%)", "pictures"].map((t, i) => el("th", { class: i < 3 ? "l" : "", text: t })));
  const body = runs.map((r) => {
    const tr = el("tr", { class: r.id === selected ? "selected" : "", "data-run": r.id },
      el("td", { class: "l", text: r.label }), el("td", { class: "l", text: r.model || "" }), el("td", { class: "l", text: r.data || "" }),
      el("td", { text: `${r.epochs_done}${r.epochs ? " / " + r.epochs : ""}` }),
      el("td", { text: r.val_top1 === null || r.val_top1 === undefined ? "–" : r.val_top1.toFixed(2) }),
      el("td", { text: String(r.pictures.length) }));
    tr.addEventListener("click", () => { selected = r.id; rows = []; picturesKey = ""; renderRuns(runs); poll(runs); });
    return tr;
  });
  $("runs-table").replaceChildren(el("thead", {}, head), el("tbody", {}, ...body));
}

export async function poll(runs) {
  if (!selected) return;
  const run = runs.find((r) => r.id === selected);
  try {
    const m = await api(`/api/runs/${encodeURIComponent(selected)}/metrics?since=${rows.length}`);
    if (m.total < rows.length) rows = [];   // the run was restarted
    rows = rows.concat(m.rows);
    draw(run);
    showError(null);
  } catch (err) { showError(err); }
}

// every numeric column of metrics.jsonl that matches: train_/val_/test_ loss and top-k, lr
function seriesOf(test) {
  const keys = [];
  for (const r of rows) for (const [k, v] of Object.entries(r)) if (test(k) && typeof v === "number" && !keys.includes(k)) keys.push(k);
  return keys.map((k) => ({ name: k.replace(/_/g, " ").replace(/top(\d)/, "top-$1"), points: rows.map((r) => [r.epoch, r[k] ?? null]) }));
}

function draw(run) {
  $("run-title").textContent = `Loss · ${selected}`;
  lineChart($("run-chart-loss"), seriesOf((k) => k.endsWith("_loss")), { xLabel: "epoch" });
  lineChart($("run-chart-acc"), seriesOf((k) => /_top\d$/.test(k)), { xLabel: "epoch" });
  lineChart($("run-chart-lr"), seriesOf((k) => k === "lr"), { xLabel: "epoch" });
  if (!run) return;
  const key = `${run.id}:${run.pictures.join("|")}:${rows.length}`;
  if (key === picturesKey) return;
  picturesKey = key;
  const stamp = Date.now();
  $("run-pictures").replaceChildren(...run.pictures.map((name) => el("figure", {},
    el("img", { src: `/api/runs/${encodeURIComponent(run.id)}/pictures/${name.split("/").map(encodeURIComponent).join("/")}?t=${stamp}`, alt: name }),
    el("figcaption", { text: name }))));
  if (!run.pictures.length) $("run-pictures").textContent = "no pictures yet (curves.png is written when training ends; `cnnlab evaluate` adds the evaluation pictures)";
}
