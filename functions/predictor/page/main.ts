// The predictor page's script (bundled by page.ts for the browser). It reads the model's
// metadata from the v2 API, turns a drawing or an uploaded picture into the input an image
// model expects (or sends a review as text to a text model), calls the v2 infer endpoint and
// draws the probabilities. API calls are relative to the page, so it works at / and behind the
// local runtime's path-prefix route (/<namespace>/<service>/).
import { grayscale, inkOnDark, toModelInput } from './image-input.js';

interface ImageInput {
  kind: 'image';
  height: number;
  width: number;
  channels: number;
  framing: 'digit' | 'object';
}
interface TokensInput {
  kind: 'tokens';
  sequenceLength: number;
}
interface ModelMetadata {
  name: string;
  versions: string[];
  platform: string;
  inputs: { name: string }[];
  parameters: {
    model?: string;
    dataset?: string;
    job_id: string;
    round: number;
    rounds: number;
    test_accuracy: number | null;
    labels: string[];
    input: ImageInput | TokensInput;
  };
}
interface InferTensor {
  name: string;
  shape: number[];
  datatype: 'FP32' | 'BYTES';
  data: (number | string)[];
}
interface InferAnswer {
  id?: string;
  model_version: string;
  outputs: { data: number[] }[];
  error?: string;
}

function element<T extends HTMLElement>(id: string, type: { new (): T }): T {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new TypeError(`the page has no ${type.name} #${id}`);
  return found;
}

const MODEL = document.body.dataset.model ?? '';
const pad = element('pad', HTMLCanvasElement);
const seen = element('seen', HTMLCanvasElement);
const padContext = pad.getContext('2d', { willReadFrequently: true });
const seenContext = seen.getContext('2d');
if (!padContext || !seenContext) throw new TypeError('this browser has no 2D canvas');
const ctx = padContext;
const seenCtx = seenContext;

const state = {
  meta: null as ModelMetadata | null,
  version: null as string | null,
  drawing: false,
  prev: null as { x: number; y: number } | null,
  last: null as number[] | null,
  timer: 0,
  request: 0,
  inked: false,
};

function setStatus(text: string, isError = false): void {
  const status = element('status', HTMLElement);
  status.textContent = text;
  status.classList.toggle('error', isError);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function clearPad(): void {
  ctx.fillStyle = '#000';
  ctx.fillRect(0, 0, pad.width, pad.height);
  seenCtx.clearRect(0, 0, seen.width, seen.height);
  state.inked = false;
}

function describeModel(meta: ModelMetadata): void {
  const p = meta.parameters;
  const accuracy = typeof p.test_accuracy === 'number' ? `${(p.test_accuracy * 100).toFixed(2)} %` : 'not evaluated';
  const info = element('model-info', HTMLElement);
  info.textContent = '';
  const parts: [string, string][] = [
    ['Model', `${meta.name} (${p.model ?? meta.platform}, ${p.dataset ?? '?'})`],
    ['job', p.job_id],
    ['round', `${p.round} of ${p.rounds}`],
    ['test accuracy', accuracy],
  ];
  parts.forEach(([key, value], i) => {
    if (i > 0) info.append(' · ');
    info.append(`${key} `);
    const strong = document.createElement('strong');
    strong.textContent = value;
    info.append(strong);
  });
}

function showInputFor(meta: ModelMetadata): void {
  const isImage = meta.parameters.input.kind === 'image';
  const hasText = meta.inputs.some((t) => t.name === 'text');
  element('image-input', HTMLElement).hidden = !isImage;
  element('text-input', HTMLElement).hidden = isImage;
  element('text-note', HTMLElement).hidden = isImage || hasText;
  element('review', HTMLTextAreaElement).disabled = !hasText;
  element('predict-text', HTMLButtonElement).disabled = !hasText;
}

async function loadMetadata(): Promise<void> {
  try {
    const res = await fetch(`v2/models/${encodeURIComponent(MODEL)}`);
    if (res.status === 503) {
      element('model-info', HTMLElement).textContent = 'No model is published yet. Waiting for a training job to finish…';
      setTimeout(() => void loadMetadata(), 3000);
      return;
    }
    if (!res.ok) throw new Error(((await res.json()) as { error?: string }).error ?? res.statusText);
    const meta = (await res.json()) as ModelMetadata;
    state.meta = meta;
    state.version = meta.versions[0] ?? null;
    describeModel(meta);
    showInputFor(meta);
    if (state.last) renderBars(state.last);
  } catch (e) {
    element('model-info', HTMLElement).textContent = `Could not read the model: ${errorText(e)}. Retrying…`;
    setTimeout(() => void loadMetadata(), 3000);
  }
}

// ---- drawing ----
function point(ev: PointerEvent): { x: number; y: number } {
  const r = pad.getBoundingClientRect();
  return { x: (ev.clientX - r.left) * (pad.width / r.width), y: (ev.clientY - r.top) * (pad.height / r.height) };
}

function stroke(from: { x: number; y: number }, to: { x: number; y: number }): void {
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

function listenForDrawing(): void {
  pad.addEventListener('pointerdown', (ev) => {
    ev.preventDefault();
    pad.setPointerCapture(ev.pointerId);
    state.drawing = true;
    state.prev = point(ev);
    stroke(state.prev, state.prev);
    clearTimeout(state.timer);
  });
  pad.addEventListener('pointermove', (ev) => {
    if (!state.drawing || !state.prev) return;
    const p = point(ev);
    stroke(state.prev, p);
    state.prev = p;
  });
  const end = (): void => {
    if (!state.drawing) return;
    state.drawing = false;
    clearTimeout(state.timer);
    state.timer = window.setTimeout(() => void predictImage(), 250);
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
}

function showSeen(values: Float32Array, size: number): void {
  seen.width = size;
  seen.height = size;
  const img = seenCtx.createImageData(size, size);
  for (let i = 0; i < values.length; i++) {
    const v = Math.round((values[i] ?? 0) * 255);
    img.data.set([v, v, v, 255], 4 * i);
  }
  seenCtx.putImageData(img, 0, 0);
}

async function predictImage(): Promise<void> {
  if (!state.meta) return setStatus('No model is loaded yet.', true);
  const input = state.meta.parameters.input;
  if (input.kind !== 'image') return setStatus('This model reads text; write a review instead.');
  const one = state.inked ? toModelInput(grayscale(ctx.getImageData(0, 0, pad.width, pad.height)), pad.width, pad.height, input.height, input.framing) : null;
  if (!one) return setStatus('Draw a digit first, or upload an image.');
  showSeen(one, input.height);
  const data = new Array<number>(input.height * input.width * input.channels);
  for (let i = 0; i < input.height * input.width; i++) for (let c = 0; c < input.channels; c++) data[i * input.channels + c] = one[i] ?? 0;
  await infer({ name: 'image', shape: [1, input.height, input.width, input.channels], datatype: 'FP32', data });
}

async function predictText(): Promise<void> {
  const text = element('review', HTMLTextAreaElement).value.trim();
  if (!text) return setStatus('Type a review first.');
  await infer({ name: 'text', shape: [1], datatype: 'BYTES', data: [text] });
}

async function infer(tensor: InferTensor): Promise<void> {
  const id = `page-${++state.request}`;
  setStatus('Predicting…');
  try {
    const res = await fetch(`v2/models/${encodeURIComponent(MODEL)}/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id, inputs: [tensor] }),
    });
    const body = (await res.json()) as InferAnswer;
    if (!res.ok) throw new Error(body.error ?? res.statusText);
    if (body.id !== `page-${state.request}`) return;
    state.last = body.outputs[0]?.data ?? [];
    renderBars(state.last);
    setStatus('');
    if (body.model_version !== state.version) void loadMetadata();
  } catch (e) {
    setStatus(`Prediction failed: ${errorText(e)}`, true);
  }
}

function renderBars(probs: number[]): void {
  const labels = state.meta?.parameters.labels ?? probs.map((_, i) => String(i));
  let top = 0;
  probs.forEach((p, i) => {
    if (p > (probs[top] ?? 0)) top = i;
  });
  element('answer', HTMLElement).textContent = labels[top] ?? String(top);
  element('answer-detail', HTMLElement).textContent = `${((probs[top] ?? 0) * 100).toFixed(1)} % confident`;
  const list = element('bars', HTMLElement);
  list.textContent = '';
  probs.forEach((p, i) => list.append(bar(labels[i] ?? String(i), p, i === top)));
  element('result', HTMLElement).hidden = false;
}

function bar(labelText: string, p: number, top: boolean): HTMLLIElement {
  const li = document.createElement('li');
  if (top) li.className = 'top';
  const label = document.createElement('span');
  label.className = 'label';
  label.textContent = labelText;
  const track = document.createElement('span');
  track.className = 'track';
  track.setAttribute('aria-hidden', 'true');
  const fill = document.createElement('span');
  fill.className = 'fill';
  fill.style.width = `${(p * 100).toFixed(1)}%`;
  fill.style.display = 'block';
  track.append(fill);
  const pct = document.createElement('span');
  pct.className = 'pct';
  pct.textContent = `${(p * 100).toFixed(1)} %`;
  li.append(label, track, pct);
  return li;
}

// ---- uploads: any picture becomes light-on-dark grayscale on the pad ----
async function upload(file: File | undefined): Promise<void> {
  if (!file) return;
  const url = URL.createObjectURL(file);
  try {
    const img = new Image();
    img.src = url;
    await img.decode();
    clearPad();
    const s = Math.min(pad.width / img.naturalWidth, pad.height / img.naturalHeight);
    const w = img.naturalWidth * s;
    const h = img.naturalHeight * s;
    const x = (pad.width - w) / 2;
    const y = (pad.height - h) / 2;
    ctx.fillStyle = '#fff';
    ctx.fillRect(x, y, w, h);
    ctx.drawImage(img, x, y, w, h);
    const area = ctx.getImageData(Math.round(x), Math.round(y), Math.max(1, Math.round(w)), Math.max(1, Math.round(h)));
    const ink = inkOnDark(grayscale(area), area.width, area.height);
    ink.forEach((b, i) => area.data.set([b, b, b, 255], 4 * i));
    ctx.fillStyle = '#000';
    ctx.fillRect(0, 0, pad.width, pad.height);
    ctx.putImageData(area, Math.round(x), Math.round(y));
    state.inked = true;
    await predictImage();
  } catch (e) {
    setStatus(`Could not read that image: ${errorText(e)}`, true);
  } finally {
    URL.revokeObjectURL(url);
  }
}

element('clear', HTMLButtonElement).addEventListener('click', () => {
  clearPad();
  element('result', HTMLElement).hidden = true;
  setStatus('');
});
element('predict', HTMLButtonElement).addEventListener('click', () => void predictImage());
element('file', HTMLInputElement).addEventListener('change', (ev) => {
  const input = ev.target as HTMLInputElement;
  void upload(input.files?.[0]);
});
element('predict-text', HTMLButtonElement).addEventListener('click', () => void predictText());
listenForDrawing();
clearPad();
void loadMetadata();
