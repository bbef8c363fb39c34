// The predictor page's script (bundled by page.ts for the browser). It lists the served models
// (the v2 repository index) for the user to pick one (`?model=<name>` picks one up front), reads
// each model's metadata, turns a drawing or an uploaded picture into the input an image model
// expects (or sends a review as text to a text model), calls the v2 infer endpoint and draws the
// probabilities. API calls are relative to the page, so it works at / and behind the local
// runtime's path-prefix route (/<namespace>/<service>/).
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
interface IndexEntry {
  name: string;
  state: string;
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

const pad = element('pad', HTMLCanvasElement);
const seen = element('seen', HTMLCanvasElement);
const padContext = pad.getContext('2d', { willReadFrequently: true });
const seenContext = seen.getContext('2d');
if (!padContext || !seenContext) throw new TypeError('this browser has no 2D canvas');
const ctx = padContext;
const seenCtx = seenContext;

const state = {
  model: new URLSearchParams(location.search).get('model') ?? '',
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

function accuracyText(meta: ModelMetadata): string {
  const a = meta.parameters.test_accuracy;
  return typeof a === 'number' ? `${(a * 100).toFixed(2)} %` : 'not evaluated';
}

/** What the picker shows for a model: where its weights came from. */
function summary(meta: ModelMetadata): string {
  const p = meta.parameters;
  return `${meta.name}: ${p.model ?? meta.platform}, job ${p.job_id}, round ${p.round} of ${p.rounds}, accuracy ${accuracyText(meta)}`;
}

function describeModel(meta: ModelMetadata): void {
  const p = meta.parameters;
  const accuracy = accuracyText(meta);
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

async function api<T>(path: string, init?: RequestInit): Promise<T> {
  const res = await fetch(path, init);
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new Error(body.error ?? res.statusText);
  return body;
}

async function metadataOf(name: string): Promise<ModelMetadata> {
  return api<ModelMetadata>(`v2/models/${encodeURIComponent(name)}`);
}

/** Fills the picker from the repository index, then shows the chosen model (retrying while none is published). */
async function loadModels(): Promise<void> {
  try {
    const index = await api<IndexEntry[]>('v2/repository/index', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    if (index.length === 0) {
      element('model-info', HTMLElement).textContent = 'No model is published yet. Waiting for a training job to finish…';
      setTimeout(() => void loadModels(), 3000);
      return;
    }
    const names = index.map((m) => m.name);
    if (!names.includes(state.model)) state.model = names[0] ?? '';
    const picker = element('model-picker', HTMLSelectElement);
    picker.textContent = '';
    for (const name of names) picker.append(new Option(name, name, false, name === state.model));
    picker.disabled = false;
    await selectModel(state.model);
    // Each option then says where its model came from (job, round, accuracy).
    await Promise.all(
      names.map(async (name) => {
        const option = Array.from(picker.options).find((o) => o.value === name);
        if (option) option.textContent = summary(await metadataOf(name));
      }),
    );
  } catch (e) {
    element('model-info', HTMLElement).textContent = `Could not list the models: ${errorText(e)}. Retrying…`;
    setTimeout(() => void loadModels(), 3000);
  }
}

async function selectModel(name: string): Promise<void> {
  state.model = name;
  state.meta = null;
  state.last = null;
  element('result', HTMLElement).hidden = true;
  setStatus('');
  await loadMetadata();
}

async function loadMetadata(): Promise<void> {
  const name = state.model;
  try {
    const meta = await metadataOf(name);
    if (name !== state.model) return;
    state.meta = meta;
    state.version = meta.versions[0] ?? null;
    describeModel(meta);
    showInputFor(meta);
    document.body.dataset.model = meta.name;
    if (state.last) renderBars(state.last);
  } catch (e) {
    element('model-info', HTMLElement).textContent = `Could not read model ${name}: ${errorText(e)}`;
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
  element('seen-label', HTMLElement).textContent = `What the model sees (${input.height}×${input.width})`;
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
    const res = await fetch(`v2/models/${encodeURIComponent(state.model)}/infer`, {
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
element('model-picker', HTMLSelectElement).addEventListener('change', (ev) => void selectModel((ev.target as HTMLSelectElement).value));
listenForDrawing();
clearPad();
void loadModels();
