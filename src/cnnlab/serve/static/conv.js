// View 2: the convolution playground. The server computes every window and its sum of products
// (cnnlab.conv.explain, the same text as `cnnlab explain conv`); this file only draws and steps.
import { api, el, postJSON, shared, showError } from "./api.js";

let presets = null, result = null, shown = 0, timer = null;
const $ = (id) => document.getElementById(id);

export async function initConv() {
  presets = await api("/api/conv/presets");
  $("conv-input").replaceChildren(
    ...presets.inputs.map((p) => el("option", { value: p.id, text: p.label })),
    el("option", { value: "drawn", text: "the digit drawn in 'Draw & predict'" }),
    el("option", { value: "upload", text: "a photo of yours (upload)…" }),
    el("option", { value: "typed", text: "typed numbers" }));
  $("conv-kernel").replaceChildren(
    ...presets.kernels.map((k) => el("option", { value: k.id, text: `${k.label}: ${k.description}` })),
    el("option", { value: "typed", text: "typed numbers" }));
  $("conv-input").addEventListener("change", onInput);
  $("conv-kernel").addEventListener("change", () => { $("conv-kernel-text").hidden = $("conv-kernel").value !== "typed"; explain(); });
  for (const id of ["conv-input-text", "conv-kernel-text", "conv-padding", "conv-stride", "conv-dilation"]) {
    $(id).addEventListener("change", explain);
  }
  $("conv-photo").addEventListener("change", uploadPhoto);
  $("conv-step").addEventListener("click", () => { stop(); step(1); });
  $("conv-reset").addEventListener("click", () => { stop(); shown = 0; draw(); });
  $("conv-all").addEventListener("click", () => { stop(); shown = result ? result.steps.length : 0; draw(); });
  $("conv-play").addEventListener("click", () => (timer ? stop() : play()));
  $("conv-speed").addEventListener("input", () => { if (timer) { stop(); play(); } });
  await onInput();
}

let photoMatrix = null;

async function onInput() {
  const id = $("conv-input").value;
  $("conv-input-text").hidden = id !== "typed";
  const preset = presets.inputs.find((p) => p.id === id);
  if (preset) {
    const s = preset.suggest;
    $("conv-kernel").value = s.filter || "typed";
    if (s.kernel) $("conv-kernel-text").value = s.kernel;
    $("conv-kernel-text").hidden = !s.kernel;
    $("conv-padding").value = s.padding; $("conv-stride").value = s.stride; $("conv-dilation").value = s.dilation;
    $("conv-source").textContent = `source: ${preset.source}`;
  } else if (id === "upload") {
    $("conv-photo").click();
    return;
  } else {
    $("conv-source").textContent = id === "drawn" ? "the 28x28 input the network saw" : "";
  }
  await explain();
}

async function uploadPhoto() {
  const file = $("conv-photo").files[0];
  if (!file) return;
  try {
    const r = await api("/api/conv/image?side=16", { method: "POST", headers: { "content-type": file.type || "application/octet-stream" }, body: file });
    photoMatrix = r.matrix;
    $("conv-source").textContent = `your photo, shrunk to ${photoMatrix.length}x${photoMatrix[0].length}`;
    await explain();
  } catch (err) { showError(err); }
}

function inputMatrix() {
  const id = $("conv-input").value;
  const preset = presets.inputs.find((p) => p.id === id);
  if (preset) return preset.matrix;
  if (id === "drawn") {
    if (!shared.digit) throw Object.assign(new Error("draw a digit in 'Draw & predict' first"), { hint: "or pick the MNIST sample digit" });
    return shared.digit;
  }
  if (id === "upload") {
    if (!photoMatrix) throw new Error("choose a photo first");
    return photoMatrix;
  }
  return $("conv-input-text").value;
}

function number(id) { return parseInt($(id).value, 10); }

function padding() {
  const v = $("conv-padding").value.trim();
  return /^(same|valid|full)$/.test(v) ? v : v.split(/[ ,]+/).map((t) => parseInt(t, 10)).filter((t) => !Number.isNaN(t));
}

export async function explain() {
  stop();
  try {
    const body = { input: inputMatrix(), stride: number("conv-stride"), dilation: number("conv-dilation") };
    const pad = padding();
    body.padding = Array.isArray(pad) && pad.length === 1 ? pad[0] : pad;
    const k = $("conv-kernel").value;
    if (k === "typed") body.kernel = $("conv-kernel-text").value; else body.filter = k;
    result = await postJSON("/api/conv/explain", body);
    shown = 0;
    showError(null);
  } catch (err) {
    result = null;
    showError(err);
  }
  draw();
}

function step(n) {
  if (!result) return false;
  shown = Math.min(result.steps.length, shown + n);
  draw();
  return shown < result.steps.length;
}

function play() {
  $("conv-play").textContent = "pause";
  if (result && shown >= result.steps.length) shown = 0;
  timer = setInterval(() => { if (!step(1)) stop(); }, 1000 / number("conv-speed"));
}

function stop() {
  if (timer) clearInterval(timer);
  timer = null;
  $("conv-play").textContent = "play";
}

// ---------------------------------------------------------------- drawing

function fmt(v) {
  if (Number.isInteger(v)) return String(v);
  const s = v.toFixed(2);
  return s.replace(/\.?0+$/, "");
}

function shade(t) { // 0..1 -> background lightness and text colour
  const light = 97 - 62 * t;
  return [`hsl(220, 12%, ${light}%)`, light < 58 ? "#fff" : "#1d2330"];
}

function drawGrid(canvas, m, { cell, isPad = () => false, isWindow = () => false, isHidden = () => false,
  isUnreached = () => false, isCurrent = () => false, range = null }) {
  const rows = m.length, cols = m[0].length;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = (cols * cell + 2) * dpr; canvas.height = (rows * cell + 2) * dpr;
  canvas.style.width = `${cols * cell + 2}px`; canvas.style.height = `${rows * cell + 2}px`;
  const g = canvas.getContext("2d");
  g.scale(dpr, dpr);
  g.translate(1, 1);
  const flat = m.flat();
  const [lo, hi] = range || [Math.min(...flat), Math.max(...flat)];
  const showNumbers = cell >= 18;
  g.font = `${Math.max(8, Math.min(14, cell * 0.36))}px ui-monospace, monospace`;
  g.textAlign = "center"; g.textBaseline = "middle";
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x = c * cell, y = r * cell;
      if (isHidden(r, c)) {
        g.fillStyle = "#fff"; g.fillRect(x, y, cell, cell);
      } else {
        const t = hi > lo ? (m[r][c] - lo) / (hi - lo) : 0;
        const [bg, fg] = isPad(r, c) ? ["#e6ecfa", "#8a94a8"] : shade(t);
        g.fillStyle = bg; g.fillRect(x, y, cell, cell);
        if (isUnreached(r, c)) {
          g.fillStyle = "rgba(192, 57, 43, 0.22)"; g.fillRect(x, y, cell, cell);
          g.strokeStyle = "rgba(192, 57, 43, 0.5)"; g.lineWidth = 1;
          g.beginPath(); g.moveTo(x, y + cell); g.lineTo(x + cell, y); g.stroke();
        }
        if (showNumbers) { g.fillStyle = fg; g.fillText(fmt(m[r][c]), x + cell / 2, y + cell / 2 + 1); }
      }
      g.strokeStyle = "#d9dde5"; g.lineWidth = 1; g.strokeRect(x, y, cell, cell);
    }
  }
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    if (isWindow(r, c) || isCurrent(r, c)) {
      g.fillStyle = "rgba(47, 111, 223, 0.28)"; g.fillRect(c * cell, r * cell, cell, cell);
      g.strokeStyle = "#2f6fdf"; g.lineWidth = 2; g.strokeRect(c * cell + 1, r * cell + 1, cell - 2, cell - 2);
    }
  }
}

function cellFor(rows, cols, room) { return Math.max(6, Math.min(44, Math.floor(room / Math.max(rows, cols)))); }

function draw() {
  const inputCanvas = $("conv-input-grid"), kernelCanvas = $("conv-kernel-grid"), outputCanvas = $("conv-output-grid");
  if (!result) {
    for (const c of [inputCanvas, kernelCanvas, outputCanvas]) { c.width = c.height = 0; }
    $("conv-formula").textContent = ""; $("conv-sum").textContent = ""; $("conv-fit").hidden = true;
    $("conv-counter").textContent = "";
    return;
  }
  const padded = result.padded[0], kernel = result.kernel[0][0], output = result.output[0];
  const [top, , left] = result.padding;
  const h = result.input[0].length, w = result.input[0][0].length;
  const current = shown > 0 ? result.steps[shown - 1] : null;
  const rowsIn = current ? new Set(current.rows) : new Set(), colsIn = current ? new Set(current.cols) : new Set();
  const [ay, ax] = result.axes;
  const unreachedRows = new Set(ay.unreached), unreachedCols = new Set(ax.unreached);
  drawGrid(inputCanvas, padded, {
    cell: cellFor(padded.length, padded[0].length, 460),
    isPad: (r, c) => r < top || r >= top + h || c < left || c >= left + w,
    isWindow: (r, c) => rowsIn.has(r) && colsIn.has(c),
    isUnreached: (r, c) => unreachedRows.has(r) || unreachedCols.has(c),
    range: [Math.min(...result.input[0].flat()), Math.max(...result.input[0].flat())],
  });
  drawGrid(kernelCanvas, kernel, { cell: cellFor(kernel.length, kernel[0].length, 160) });
  const done = new Set(result.steps.slice(0, shown).map((s) => `${s.row},${s.col}`));
  drawGrid(outputCanvas, output, {
    cell: cellFor(output.length, output[0].length, 300),
    isHidden: (r, c) => !done.has(`${r},${c}`),
    isCurrent: (r, c) => current !== null && current.row === r && current.col === c,
  });
  $("conv-input-caption").textContent = `input ${h}x${w}` + (result.padding.some((p) => p) ? ` + padding (${padded.length}x${padded[0].length})` : "") +
    (ay.unreached.length || ax.unreached.length ? " · red: never reached by a window" : "");
  $("conv-output-caption").textContent = `output ${output.length}x${output[0].length} · ${shown} of ${result.steps.length} cells`;
  $("conv-formula").textContent = result.header;
  $("conv-sum").textContent = current ? current.text : "press step ▶ (or play) to slide the window";
  $("conv-counter").textContent = `window ${shown} / ${result.steps.length}`;
  // one note per distinct misfit (a square input with one stride has the same note on both axes)
  const misfits = [];
  for (const a of result.axes.filter((x) => !x.fits)) {
    const same = misfits.find((m) => m.formula === a.formula && m.message === a.message);
    if (same) same.axis += " and " + a.axis; else misfits.push({ ...a });
  }
  const box = $("conv-fit");
  box.hidden = !misfits.length;
  box.replaceChildren(...misfits.map((a) => el("p", {},
    el("b", { text: `${a.axis}: ${a.formula}` }), document.createElement("br"),
    `The stride ${result.stride[a.axis.startsWith("height") ? 0 : 1]} does not fit for this case, and thus cannot be used (lecture 000).`,
    document.createElement("br"), a.message)));
}
