// The page: four views behind #hash links, and a status poll (demo training progress, run list).
import { api, shared, showError } from "./api.js";
import { initDraw, fillRuns as fillDrawRuns, phases, serverTimings, timings } from "./draw.js";
import { initConv } from "./conv.js";
import { initExplorer, fillRuns as fillExplorerRuns } from "./explorer.js";
import { renderRuns, poll } from "./monitor.js";

const VIEWS = { draw: initDraw, conv: initConv, models: initExplorer, runs: null };
const started = new Set();
let current = null;

window.cnnlab = { timings, serverTimings, phases, ready: false };   // read by the browser tests

async function route() {
  const name = (location.hash || "#draw").slice(1);
  current = name in VIEWS ? name : "draw";
  for (const v of Object.keys(VIEWS)) document.getElementById(`view-${v}`).hidden = v !== current;
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === current);
  showError(null);
  if (!started.has(current) && VIEWS[current]) {
    started.add(current);
    try { await VIEWS[current](); } catch (err) { showError(err); }
  }
  if (current === "runs") { renderRuns(shared.runs); poll(shared.runs); }
}

async function status() {
  try {
    const s = await api("/api/status");
    shared.runs = s.runs;
    const line = document.getElementById("status");
    line.textContent = s.demo.state === "ready" || s.demo.state === "off" ? `cnnlab ${s.version}` : s.demo.message;
    line.classList.toggle("training", s.demo.state === "training");
    line.dataset.state = s.demo.state;
    fillDrawRuns(s.runs, s.default_run);
    fillExplorerRuns(s.runs);
    if (current === "runs") { renderRuns(s.runs); poll(s.runs); }
    window.cnnlab.ready = s.default_run !== null;
  } catch (err) { showError(err); }
}

window.addEventListener("hashchange", route);
route().then(status);
setInterval(status, 2000);
