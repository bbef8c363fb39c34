// The web page's stylesheet and script, inlined into GET / (nothing is loaded from elsewhere).
// The script is plain browser JavaScript: it reads the model's metadata from the v2 API, turns
// a drawing or an uploaded picture into the 28×28 input MNIST models expect (or sends a review
// as text), calls the v2 infer endpoint and draws the probabilities.

export const PAGE_STYLE = `
:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b5cad; --bar: #8cb4e0; --top: #0b5cad; --bg: #f6f8fa; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: var(--bg); }
header, main, footer { max-width: 860px; margin: 0 auto; padding: 0 16px; }
header { padding-top: 20px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; }
h2 { font-size: 1.1rem; margin: 0 0 12px; }
#model-info { margin: 0 0 16px; color: var(--muted); }
#model-info strong { color: var(--ink); }
main { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 16px; flex: 1 1 300px; min-width: 0; }
.hint { margin: 0 0 8px; color: var(--muted); font-size: 0.95rem; }
#pad-wrap { position: relative; width: 100%; max-width: 280px; aspect-ratio: 1; }
#pad { width: 100%; height: 100%; background: #000; border-radius: 6px; touch-action: none; cursor: crosshair; display: block; }
.row { display: flex; flex-wrap: wrap; gap: 8px; margin-top: 12px; align-items: center; }
button, .file-label { font: inherit; padding: 8px 14px; border-radius: 6px; border: 1px solid var(--line); background: #fff; color: var(--ink); cursor: pointer; min-height: 44px; }
button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
button:focus-visible, .file-label:focus-within, textarea:focus-visible { outline: 3px solid #f0a500; outline-offset: 2px; }
.file-label input { position: absolute; width: 1px; height: 1px; opacity: 0; }
.file-label { position: relative; display: inline-flex; align-items: center; }
#seen-wrap { display: flex; align-items: center; gap: 8px; color: var(--muted); font-size: 0.9rem; }
#seen { width: 56px; height: 56px; image-rendering: pixelated; background: #000; border-radius: 4px; }
textarea { width: 100%; min-height: 140px; font: inherit; padding: 8px; border: 1px solid var(--line); border-radius: 6px; resize: vertical; }
#answer { font-size: 2.4rem; font-weight: 700; margin: 0; line-height: 1.2; }
#answer-detail { margin: 0 0 12px; color: var(--muted); }
#bars { list-style: none; margin: 0; padding: 0; }
#bars li { display: grid; grid-template-columns: minmax(2.5em, max-content) 1fr 4.5em; gap: 8px; align-items: center; margin: 3px 0; }
#bars .label { font-variant-numeric: tabular-nums; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; max-width: 9em; }
#bars .track { background: #eaeef2; border-radius: 3px; height: 14px; overflow: hidden; }
#bars .fill { background: var(--bar); height: 100%; width: 0; transition: width 0.2s; }
#bars li.top .fill { background: var(--top); }
#bars li.top .label { font-weight: 700; }
#bars .pct { text-align: right; font-variant-numeric: tabular-nums; color: var(--muted); }
#status { min-height: 1.5em; color: var(--muted); margin: 8px 0 0; }
#status.error { color: #b3261e; }
[hidden] { display: none !important; }
footer { color: var(--muted); font-size: 0.85rem; padding-top: 16px; padding-bottom: 24px; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: 0.85em; }
@media (max-width: 420px) { h1 { font-size: 1.25rem; } #answer { font-size: 2rem; } section { padding: 12px; } }
`;

export const PAGE_SCRIPT = `
'use strict';
(() => {
  const MODEL = document.body.dataset.model;
  const $ = (id) => document.getElementById(id);
  const pad = $('pad'), ctx = pad.getContext('2d', { willReadFrequently: true });
  const seen = $('seen'), seenCtx = seen.getContext('2d');
  const state = { meta: null, version: null, drawing: false, prev: null, last: null, timer: 0, request: 0, inked: false };

  function setStatus(text, isError) {
    $('status').textContent = text;
    $('status').classList.toggle('error', Boolean(isError));
  }

  function clearPad() {
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    seenCtx.clearRect(0, 0, seen.width, seen.height);
    state.inked = false;
  }

  function describeModel(meta) {
    const p = meta.parameters || {};
    const acc = typeof p.test_accuracy === 'number' ? (p.test_accuracy * 100).toFixed(2) + ' %' : 'not evaluated';
    const info = $('model-info');
    info.textContent = '';
    const parts = [['Model', meta.name + ' (' + (p.model || meta.platform) + ', ' + (p.dataset || '?') + ')'], ['job', p.job_id], ['round', p.round + ' of ' + p.rounds], ['test accuracy', acc]];
    parts.forEach(([k, v], i) => {
      if (i) info.append(' · ');
      info.append(k + ' ');
      const s = document.createElement('strong');
      s.textContent = String(v);
      info.append(s);
    });
  }

  // API calls are relative to the page, so it works at / and behind the local runtime's
  // path-prefix route (/<namespace>/<service>/).
  async function loadMetadata() {
    try {
      const res = await fetch('v2/models/' + encodeURIComponent(MODEL));
      if (res.status === 503) {
        $('model-info').textContent = 'No model is published yet. Waiting for a training job to finish…';
        setTimeout(loadMetadata, 3000);
        return;
      }
      if (!res.ok) throw new Error((await res.json()).error || res.statusText);
      const meta = await res.json();
      state.meta = meta;
      state.version = meta.versions[0];
      describeModel(meta);
      const input = meta.parameters.input;
      const isImage = input.kind === 'image';
      $('image-input').hidden = !isImage;
      $('text-input').hidden = isImage;
      const hasText = meta.inputs.some((t) => t.name === 'text');
      $('text-note').hidden = isImage || hasText;
      $('review').disabled = !hasText;
      $('predict-text').disabled = !hasText;
      if (state.last) renderBars(state.last);
    } catch (e) {
      $('model-info').textContent = 'Could not read the model: ' + e.message + '. Retrying…';
      setTimeout(loadMetadata, 3000);
    }
  }

  // ---- drawing ----
  function point(ev) {
    const r = pad.getBoundingClientRect();
    return { x: (ev.clientX - r.left) * (pad.width / r.width), y: (ev.clientY - r.top) * (pad.height / r.height) };
  }
  function stroke(from, to) {
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = pad.width / 13;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    state.inked = true;
  }
  pad.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    pad.setPointerCapture(ev.pointerId);
    state.drawing = true;
    state.prev = point(ev);
    stroke(state.prev, state.prev);
    clearTimeout(state.timer);
  });
  pad.addEventListener('pointermove', (ev) => {
    if (!state.drawing) return;
    const p = point(ev);
    stroke(state.prev, p);
    state.prev = p;
  });
  const end = () => {
    if (!state.drawing) return;
    state.drawing = false;
    clearTimeout(state.timer);
    state.timer = setTimeout(predictImage, 250);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);

  // ---- turning the pad into the model's input ----
  function grayscale(image) {
    const g = new Float32Array(image.width * image.height);
    const d = image.data;
    for (let i = 0; i < g.length; i++) g[i] = (d[4 * i] + d[4 * i + 1] + d[4 * i + 2]) / (3 * 255);
    return g;
  }
  function boundingBox(g, w, h, threshold) {
    let x0 = w, y0 = h, x1 = -1, y1 = -1;
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      if (g[y * w + x] > threshold) { if (x < x0) x0 = x; if (x > x1) x1 = x; if (y < y0) y0 = y; if (y > y1) y1 = y; }
    }
    return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
  }
  // Area-average resampling of a box of the source to tw × th pixels.
  function resample(g, w, box, tw, th) {
    const out = new Float32Array(tw * th);
    const sx = box.w / tw, sy = box.h / th;
    for (let ty = 0; ty < th; ty++) for (let tx = 0; tx < tw; tx++) {
      const fx0 = box.x + tx * sx, fx1 = fx0 + sx, fy0 = box.y + ty * sy, fy1 = fy0 + sy;
      let sum = 0, area = 0;
      for (let y = Math.floor(fy0); y < Math.ceil(fy1); y++) {
        const wy = Math.min(fy1, y + 1) - Math.max(fy0, y);
        for (let x = Math.floor(fx0); x < Math.ceil(fx1); x++) {
          const wx = Math.min(fx1, x + 1) - Math.max(fx0, x);
          sum += g[y * w + x] * wx * wy;
          area += wx * wy;
        }
      }
      out[ty * tw + tx] = area > 0 ? sum / area : 0;
    }
    return out;
  }
  // MNIST's recipe: the ink fits a box of 20 (of 28) pixels keeping its aspect ratio, and its
  // centre of mass lands on the centre of the frame. 'object' framing fills the frame instead.
  function toModelInput(g, w, h, size, framing) {
    const box = boundingBox(g, w, h, 0.08);
    if (!box) return null;
    const inner = framing === 'digit' ? Math.round(size * 20 / 28) : size;
    const scale = inner / Math.max(box.w, box.h);
    const tw = Math.max(1, Math.round(box.w * scale)), th = Math.max(1, Math.round(box.h * scale));
    const patch = resample(g, w, box, tw, th);
    let ox = (size - tw) / 2, oy = (size - th) / 2;
    if (framing === 'digit') {
      let m = 0, cx = 0, cy = 0;
      for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) { const v = patch[y * tw + x]; m += v; cx += v * (x + 0.5); cy += v * (y + 0.5); }
      if (m > 0) { ox = size / 2 - cx / m; oy = size / 2 - cy / m; }
    }
    ox = Math.min(Math.max(Math.round(ox), 0), size - tw);
    oy = Math.min(Math.max(Math.round(oy), 0), size - th);
    const out = new Float32Array(size * size);
    for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) out[(y + oy) * size + x + ox] = Math.min(1, patch[y * tw + x]);
    return out;
  }
  function showSeen(values, size) {
    seen.width = size; seen.height = size;
    const img = seenCtx.createImageData(size, size);
    for (let i = 0; i < values.length; i++) { const v = Math.round(values[i] * 255); img.data.set([v, v, v, 255], 4 * i); }
    seenCtx.putImageData(img, 0, 0);
  }

  async function predictImage() {
    if (!state.meta) return setStatus('No model is loaded yet.', true);
    const input = state.meta.parameters.input;
    if (!state.inked) return setStatus('Draw a digit first, or upload an image.');
    const g = grayscale(ctx.getImageData(0, 0, pad.width, pad.height));
    const one = toModelInput(g, pad.width, pad.height, input.height, input.framing);
    if (!one) return setStatus('Draw a digit first, or upload an image.');
    showSeen(one, input.height);
    const data = new Array(input.height * input.width * input.channels);
    for (let i = 0; i < input.height * input.width; i++) for (let c = 0; c < input.channels; c++) data[i * input.channels + c] = one[i];
    await infer({ name: 'image', shape: [1, input.height, input.width, input.channels], datatype: 'FP32', data });
  }

  async function predictText() {
    const text = $('review').value.trim();
    if (!text) return setStatus('Type a review first.');
    await infer({ name: 'text', shape: [1], datatype: 'BYTES', data: [text] });
  }

  async function infer(tensor) {
    const id = 'page-' + (++state.request);
    setStatus('Predicting…');
    try {
      const res = await fetch('v2/models/' + encodeURIComponent(MODEL) + '/infer', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ id, inputs: [tensor] }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error || res.statusText);
      if (body.id !== 'page-' + state.request) return;
      state.last = body.outputs[0].data;
      renderBars(state.last);
      setStatus('');
      if (body.model_version !== state.version) loadMetadata();
    } catch (e) {
      setStatus('Prediction failed: ' + e.message, true);
    }
  }

  function renderBars(probs) {
    const labels = (state.meta && state.meta.parameters.labels) || probs.map((_, i) => String(i));
    let top = 0;
    probs.forEach((p, i) => { if (p > probs[top]) top = i; });
    $('answer').textContent = labels[top];
    $('answer-detail').textContent = (probs[top] * 100).toFixed(1) + ' % confident';
    const list = $('bars');
    list.textContent = '';
    probs.forEach((p, i) => {
      const li = document.createElement('li');
      if (i === top) li.className = 'top';
      const label = document.createElement('span');
      label.className = 'label';
      label.textContent = labels[i];
      const track = document.createElement('span');
      track.className = 'track';
      track.setAttribute('aria-hidden', 'true');
      const fill = document.createElement('span');
      fill.className = 'fill';
      fill.style.width = (p * 100).toFixed(1) + '%';
      fill.style.display = 'block';
      track.append(fill);
      const pct = document.createElement('span');
      pct.className = 'pct';
      pct.textContent = (p * 100).toFixed(1) + ' %';
      li.append(label, track, pct);
      list.append(li);
    });
    $('result').hidden = false;
  }

  // ---- uploads: any picture becomes light-on-dark grayscale on the pad ----
  async function upload(file) {
    if (!file) return;
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      clearPad();
      const s = Math.min(pad.width / img.naturalWidth, pad.height / img.naturalHeight);
      const w = img.naturalWidth * s, h = img.naturalHeight * s;
      const x = (pad.width - w) / 2, y = (pad.height - h) / 2;
      ctx.fillStyle = '#fff';
      ctx.fillRect(x, y, w, h);
      ctx.drawImage(img, x, y, w, h);
      const area = ctx.getImageData(Math.round(x), Math.round(y), Math.max(1, Math.round(w)), Math.max(1, Math.round(h)));
      const g = grayscale(area);
      // Dark ink on light paper (most photos and scans) is inverted to MNIST's light-on-dark.
      let border = 0, n = 0;
      for (let i = 0; i < area.width; i++) { border += g[i] + g[(area.height - 1) * area.width + i]; n += 2; }
      const invert = border / n > 0.5;
      let lo = 1, hi = 0;
      for (let i = 0; i < g.length; i++) { if (invert) g[i] = 1 - g[i]; lo = Math.min(lo, g[i]); hi = Math.max(hi, g[i]); }
      const bg = invert ? 1 - border / n : border / n;
      const span = Math.max(1e-6, hi - bg);
      for (let i = 0; i < g.length; i++) {
        const v = Math.max(0, (g[i] - bg) / span);
        const b = Math.round(Math.min(1, v < 0.15 ? 0 : v) * 255);
        area.data.set([b, b, b, 255], 4 * i);
      }
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, pad.width, pad.height);
      ctx.putImageData(area, Math.round(x), Math.round(y));
      state.inked = true;
      await predictImage();
    } catch (e) {
      setStatus('Could not read that image: ' + e.message, true);
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  $('clear').addEventListener('click', () => { clearPad(); $('result').hidden = true; setStatus(''); });
  $('predict').addEventListener('click', predictImage);
  $('file').addEventListener('change', (ev) => upload(ev.target.files[0]));
  $('predict-text').addEventListener('click', predictText);
  clearPad();
  loadMetadata();
})();
`;
