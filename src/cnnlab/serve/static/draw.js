// View 1: draw a digit (mouse, pen or finger) or drop an image; every stroke asks the server for the
// top-5, the input the network saw, every layer's feature maps and a Grad-CAM overlay.
import { api, el, shared, showError } from "./api.js";

const LINE_WIDTH = 20;
let canvas, ctx, drawing = false, last = null;
let inFlight = false, pending = null;   // one request at a time; the newest stroke waits its turn
export const timings = [];               // stroke -> picture latencies (ms), read by the browser test
export const serverTimings = [];
export const phases = [];         // the server's share of each (ms)

export function initDraw() {
  canvas = document.getElementById("pad");
  ctx = canvas.getContext("2d");
  clearPad();
  canvas.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    canvas.setPointerCapture(e.pointerId);
    drawing = true;
    last = point(e);
    dot(last);
  });
  canvas.addEventListener("pointermove", (e) => {
    if (!drawing) return;
    const events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    for (const ev of events.length ? events : [e]) { const p = point(ev); line(last, p); last = p; }
  });
  const end = () => {
    if (!drawing) return;
    drawing = false;
    const t0 = performance.now();
    send(padPNG(), t0);
  };
  canvas.addEventListener("pointerup", end);
  canvas.addEventListener("pointercancel", end);
  document.getElementById("pad-clear").addEventListener("click", clearPad);

  const drop = document.getElementById("drop");
  const upload = document.getElementById("upload");
  upload.addEventListener("change", () => upload.files[0] && useFile(upload.files[0]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault(); drop.classList.remove("over");
    if (e.dataTransfer.files[0]) useFile(e.dataTransfer.files[0]);
  });
  document.getElementById("draw-run").addEventListener("change", () => send(padPNG(), performance.now()));
}

export function fillRuns(runs, defaultRun) {
  const select = document.getElementById("draw-run");
  const current = select.value || defaultRun;
  select.replaceChildren(...runs.filter((r) => r.has_model).map((r) =>
    el("option", { value: r.id, text: `${r.id} (${r.model})` })));
  if (current && runs.some((r) => r.id === current && r.has_model)) select.value = current;
}

// The pad as a PNG blob, encoded now: Chrome's canvas.toBlob waits for an idle moment, which on a
// busy machine took a whole second (measured in the browser test).
function padPNG() {
  const b64 = canvas.toDataURL("image/png").split(",")[1];
  const bytes = Uint8Array.from(atob(b64), (ch) => ch.charCodeAt(0));
  return new Blob([bytes], { type: "image/png" });
}

function point(e) {
  const r = canvas.getBoundingClientRect();
  return [(e.clientX - r.left) * (canvas.width / r.width), (e.clientY - r.top) * (canvas.height / r.height)];
}

function dot(p) {
  ctx.beginPath(); ctx.arc(p[0], p[1], LINE_WIDTH / 2, 0, 2 * Math.PI); ctx.fill();
}

function line(a, b) {
  ctx.beginPath(); ctx.moveTo(a[0], a[1]); ctx.lineTo(b[0], b[1]); ctx.stroke();
}

function clearPad() {
  ctx.fillStyle = "#000";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.strokeStyle = ctx.fillStyle = "#fff";
  ctx.lineWidth = LINE_WIDTH; ctx.lineCap = ctx.lineJoin = "round";
}

function useFile(file) {
  const url = URL.createObjectURL(file);
  const img = new Image();
  img.onload = () => {   // show it on the pad (fitted), send the file itself (full resolution)
    clearPad();
    const s = Math.min(canvas.width / img.width, canvas.height / img.height);
    const w = img.width * s, h = img.height * s;
    ctx.drawImage(img, (canvas.width - w) / 2, (canvas.height - h) / 2, w, h);
    ctx.fillStyle = "#fff";
    URL.revokeObjectURL(url);
  };
  img.onerror = () => URL.revokeObjectURL(url);
  img.src = url;
  send(file, performance.now());
}

async function send(blob, t0) {
  if (inFlight) { pending = [blob, t0]; return; }
  inFlight = true;
  const tSent = performance.now();
  try {
    const run = document.getElementById("draw-run").value;
    const result = await api("/api/predict" + (run ? `?run=${encodeURIComponent(run)}` : ""),
      { method: "POST", headers: { "content-type": blob.type || "application/octet-stream" }, body: blob });
    const t1 = performance.now();
    await show(result);
    const ms = performance.now() - t0;
    phases.push({ sent: tSent - t0, answered: t1 - t0, shown: ms });
    timings.push(ms);
    serverTimings.push(result.timing_ms.total);
    document.getElementById("draw-latency").textContent =
      `stroke → picture ${ms.toFixed(0)} ms (server ${result.timing_ms.total.toFixed(0)} ms)`;
    showError(null);
  } catch (err) {
    showError(err);
  } finally {
    inFlight = false;
    if (pending) { const [b, t] = pending; pending = null; send(b, t); }
  }
}

async function show(r) {
  const best = r.top[0];
  document.getElementById("prediction").textContent = best.class;
  document.getElementById("prediction-p").textContent = `${(100 * best.probability).toFixed(1)}% (${r.run})`;
  document.getElementById("top5").replaceChildren(...r.top.map((t) => el("li", {},
    el("span", { class: "c", text: t.class }),
    el("span", { class: "bar", style: `width: ${Math.max(0.5, 100 * t.probability)}%` }),
    el("span", { class: "p", text: `${(100 * t.probability).toFixed(1)}%` }))));
  document.getElementById("draw-notes").replaceChildren(...r.notes.map((n) => el("li", { text: n })));
  const images = [];
  const input = document.getElementById("net-input");
  input.src = r.input.png; images.push(input);
  document.getElementById("net-input-caption").textContent = `input ${r.input.size.join("x")}`;
  const cam = document.getElementById("gradcam");
  cam.src = r.gradcam.png; images.push(cam);
  document.getElementById("gradcam-caption").textContent = `Grad-CAM for "${r.gradcam.class}"`;
  shared.digit = r.input.matrix;
  const figures = r.layers.map((layer) => {
    const img = el("img", { src: layer.png, alt: layer.name, class: "fmap", "data-layer": layer.name });
    images.push(img);
    const shape = layer.shape.join("x");
    const more = layer.kind === "maps" && layer.shown < layer.shape[0] ? `, first ${layer.shown}` : "";
    return el("figure", {}, img, el("figcaption", { text: `${layer.name} · ${shape}${more}` }));
  });
  document.getElementById("layers").replaceChildren(...figures);
  await Promise.all(images.map((img) => img.decode().catch(() => null)));
  for (const img of document.querySelectorAll("#layers img")) sizeLayer(img);
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
}

function sizeLayer(img) {   // enlarge small mosaics by a whole factor so pixels stay square
  const w = img.naturalWidth, h = img.naturalHeight;
  const scale = h === 1 ? Math.max(1, Math.floor(240 / w)) : Math.max(1, Math.min(6, Math.floor(200 / Math.max(w, h))));
  img.style.width = `${w * scale}px`;
  img.style.height = `${h === 1 ? 14 : h * scale}px`;
}
