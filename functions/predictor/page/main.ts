// The predictor page's script (bundled by page.ts for the browser). It lists the served models
// (the v2 repository index) for the user to pick one (`?model=<name>` picks one up front), reads
// each model's metadata, turns a drawing or an uploaded picture into the input an image model
// expects (or sends a review as text to a text model), calls the v2 infer endpoint and draws the
// probabilities. API calls are relative to the page, so it works at / and behind the local
// runtime's path-prefix route (/<namespace>/<service>/). Every API call goes through apiFetch,
// which asks for the bearer token when the predictor has auth on (token.ts).
import { renderBars } from './bars.js';
import { element, errorText, setStatus } from './dom.js';
import { DrawingPad } from './pad.js';
import { apiFetch } from './token.js';
import type { IndexEntry, InferAnswer, InferTensor, ModelMetadata } from './types.js';

const state = {
  model: new URLSearchParams(location.search).get('model') ?? '',
  meta: null as ModelMetadata | null,
  version: null as string | null,
  last: null as number[] | null,
  request: 0,
};
const pad = new DrawingPad(() => void predictImage());

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
  const res = await apiFetch(path, init);
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
    const index = await api<IndexEntry[]>('v2/repository/index', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: '{}',
    });
    if (index.length === 0) {
      element('model-info', HTMLElement).textContent =
        'No model is published yet. Waiting for a training job to finish…';
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
    if (state.last) renderBars(state.last, labels(state.last));
  } catch (e) {
    element('model-info', HTMLElement).textContent = `Could not read model ${name}: ${errorText(e)}`;
  }
}

async function predictImage(): Promise<void> {
  if (!state.meta) return setStatus('No model is loaded yet.', true);
  const input = state.meta.parameters.input;
  if (input.kind !== 'image') return setStatus('This model reads text; write a review instead.');
  element('seen-label', HTMLElement).textContent = `What the model sees (${input.height}×${input.width})`;
  const one = pad.read(input.height, input.framing);
  if (!one) return setStatus('Draw a digit first, or upload an image.');
  const data = new Array<number>(input.height * input.width * input.channels);
  for (let i = 0; i < input.height * input.width; i++)
    for (let c = 0; c < input.channels; c++) data[i * input.channels + c] = one[i] ?? 0;
  // A user's own ONNX image model names its input itself; Kaskade's models call it "image".
  const name = state.meta.inputs[0]?.name ?? 'image';
  await infer({ name, shape: [1, input.height, input.width, input.channels], datatype: 'FP32', data });
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
    const res = await apiFetch(`v2/models/${encodeURIComponent(state.model)}/infer`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id, inputs: [tensor] }),
    });
    const body = (await res.json()) as InferAnswer;
    if (!res.ok) throw new Error(body.error ?? res.statusText);
    if (body.id !== `page-${state.request}`) return;
    state.last = body.outputs[0]?.data ?? [];
    renderBars(state.last, labels(state.last));
    setStatus('');
    if (body.model_version !== state.version) void loadMetadata();
  } catch (e) {
    setStatus(`Prediction failed: ${errorText(e)}`, true);
  }
}

async function upload(file: File | undefined): Promise<void> {
  if (!file) return;
  try {
    await pad.upload(file);
  } catch (e) {
    return setStatus(`Could not read that image: ${errorText(e)}`, true);
  }
  await predictImage();
}

function labels(probs: readonly number[]): string[] {
  return state.meta?.parameters.labels ?? probs.map((_, i) => String(i));
}

element('clear', HTMLButtonElement).addEventListener('click', () => {
  pad.clear();
  element('result', HTMLElement).hidden = true;
  setStatus('');
});
element('predict', HTMLButtonElement).addEventListener('click', () => void predictImage());
element('file', HTMLInputElement).addEventListener('change', (ev) => {
  const input = ev.target as HTMLInputElement;
  void upload(input.files?.[0]);
});
element('predict-text', HTMLButtonElement).addEventListener('click', () => void predictText());
element('model-picker', HTMLSelectElement).addEventListener(
  'change',
  (ev) => void selectModel((ev.target as HTMLSelectElement).value),
);
void loadModels();
