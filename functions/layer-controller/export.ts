// The trained chain as one TF.js layers model (and its ONNX form): each layer's weights fetched from its service,
// put into the equivalent Sequential model (export.ts in _shared/layers), and saved where the
// predictor serves models from: `<root>/models/<name>/<jobId>/` with kaskade.json beside
// model.json, then `models/<name>/LATEST` moved to it. The served model takes [0, 1] images
// (a first Rescaling layer maps them to the [-1, 1] the chain was trained on) and answers
// softmax probabilities.
import type * as tfjs from '@tensorflow/tfjs';
import { buildChainModel, getChainWeights, setChainWeights } from '../_shared/layers/export.js';
import type { Tensors } from '../_shared/layers/ops.js';
import { parseLayerSpec, type LayerSpec } from '../_shared/layers/spec.js';
import { modelsLayout } from '../_shared/jobs/layout.js';
import { MODEL_METADATA_FILE, MODEL_METADATA_FORMAT, encodeModelMetadata } from '../_shared/models/metadata.js';
import { encodeTfTensors, decodeTensors, toTfTensors } from '../_shared/wire/index.js';
import { publishLatest, type Store } from '../_shared/store/index.js';
import { MODEL_ONNX_FILE, exportOnnx } from '../_shared/serving/export-onnx.js';
import { BadInputError } from '../_shared/errors.js';
import type { LayerClient } from '../../events/layer-client.js';
import type { LayerJobRecord } from './jobs.js';

/** Served inputs are [0, 1]; the chain trains on [-1, 1]. */
export const SERVED_RESCALE = { scale: 2, offset: -1 } as const;

export function specsOf(job: LayerJobRecord): LayerSpec[] {
  return job.layers.map((l) => parseLayerSpec(l.type, l.config));
}

async function withChainModel<T>(
  tf: typeof tfjs,
  job: LayerJobRecord,
  clients: readonly LayerClient[],
  use: (model: tfjs.Sequential) => Promise<T>,
): Promise<T> {
  const specs = specsOf(job);
  const weights: Tensors[] = await Promise.all(
    clients.map(async (c) => toTfTensors(decodeTensors(await c.getWeights(job.jobId)))),
  );
  const model = buildChainModel(tf, specs, job.inputShape, { rescale: SERVED_RESCALE, softmax: true });
  try {
    setChainWeights(model, specs, weights);
    return await use(model);
  } finally {
    model.dispose();
    for (const w of weights) for (const t of Object.values(w)) t.dispose();
  }
}

/** Saves the chain as a layers model in `folderUrl` (model.json + weights) with its ONNX form
 *  beside it (model.onnx, what the predictor serves on ONNX Runtime). The ONNX bytes are made
 *  first, so a chain that cannot be exported fails before anything is written. */
export async function saveChainModel(
  tf: typeof tfjs,
  store: Store,
  job: LayerJobRecord,
  clients: readonly LayerClient[],
  folderUrl: string,
): Promise<void> {
  await withChainModel(tf, job, clients, async (model) => {
    const onnx = exportOnnx(model);
    await model.save(store.modelHandler(folderUrl));
    await store.write(`${folderUrl}${MODEL_ONNX_FILE}`, onnx, { contentType: 'application/octet-stream' });
  });
}

/** Publishes the chain for the predictor under `models/<name>/`; the folder URL. */
export async function publishChainModel(
  tf: typeof tfjs,
  store: Store,
  root: string,
  name: string,
  job: LayerJobRecord,
  clients: readonly LayerClient[],
  result: { testAccuracy: number | null; testLoss: number | null; dataset: string },
): Promise<string> {
  const layout = modelsLayout(root, name);
  const folder = layout.version(job.jobId);
  const [height, width, channels] = job.inputShape;
  if (job.inputShape.length !== 3 || height === undefined || width === undefined || channels === undefined) {
    throw new BadInputError(
      `only image chains ([height, width, channels] input) can be published; this one takes [${job.inputShape.join(', ')}]`,
    );
  }
  await saveChainModel(tf, store, job, clients, folder);
  const classes = outputUnits(job);
  const metadata = encodeModelMetadata({
    format: MODEL_METADATA_FORMAT,
    model: 'layer-chain',
    dataset: result.dataset,
    jobId: job.jobId,
    round: Math.max(1, job.epochs.length),
    rounds: Math.max(1, job.train?.epochs ?? job.epochs.length),
    testAccuracy: result.testAccuracy,
    testLoss: result.testLoss,
    createdAt: new Date().toISOString(),
    labels: Array.from({ length: classes }, (_, i) => String(i)),
    input: { kind: 'image', height, width, channels, framing: 'digit' },
  });
  await store.write(`${folder}${MODEL_METADATA_FILE}`, metadata, { contentType: 'application/json' });
  await publishLatest(store, layout.folder, `${job.jobId}/`);
  return folder;
}

function outputUnits(job: LayerJobRecord): number {
  const last = specsOf(job).at(-1);
  if (last?.kind !== 'fc')
    throw new BadInputError('the chain must end with an fc layer to be published as a classifier');
  return last.config.out_features;
}

/** Loads a saved chain model's weights into the layers (shapes must match the job's layers). */
export async function loadChainModel(
  tf: typeof tfjs,
  store: Store,
  job: LayerJobRecord,
  clients: readonly LayerClient[],
  folderUrl: string,
): Promise<void> {
  const specs = specsOf(job);
  const model = await tf.loadLayersModel(store.modelHandler(folderUrl));
  try {
    const weights = getChainWeights(model, specs);
    try {
      await Promise.all(clients.map(async (c, k) => c.putWeights(job.jobId, await encodeTfTensors(weights[k] ?? {}))));
    } finally {
      for (const w of weights) for (const t of Object.values(w)) t.dispose();
    }
  } finally {
    model.dispose();
  }
}
