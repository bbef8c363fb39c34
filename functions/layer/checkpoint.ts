// A layer's checkpoints: one safetensors file per checkpointed step holding its parameters
// (`param.*`), state (`state.*`) and optimizer slots (`opt.*`), with the layer's type, config,
// optimizer and step in the metadata; then the job folder's LATEST pointer is moved to it. The
// file is written whole (temp + rename, or a GCS object) before the pointer, so a layer that
// restarts always finds a complete checkpoint:
//
//   <LAYER_STATE_URL>/<jobId>/step-00000012.safetensors
//   <LAYER_STATE_URL>/<jobId>/LATEST  →  step-00000012.safetensors
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import type { Tensors } from '../_shared/layers/ops.js';
import { parseOptimizerSpec } from '../_shared/layers/optimizer.js';
import { parseLayerSpec } from '../_shared/layers/spec.js';
import {
  joinStoreUrl,
  loadTensors,
  publishLatest,
  readLatest,
  saveTensors,
  type Store,
} from '../_shared/store/index.js';
import { LayerJob } from './layer-job.js';

const FORMAT = 'kaskade.layer-checkpoint/v1';

export function jobFolder(stateUrl: string, jobId: string): string {
  return joinStoreUrl(stateUrl, `${jobId}/`);
}

export function checkpointName(step: number): string {
  return `step-${String(step).padStart(8, '0')}.safetensors`;
}

/** Writes the job's checkpoint at its last applied step and points LATEST at it; its URL. */
export async function saveCheckpoint(store: Store, stateUrl: string, job: LayerJob): Promise<string> {
  const folder = jobFolder(stateUrl, job.jobId);
  const name = checkpointName(job.appliedStep);
  const { params, state, optimizer, optimizerStep } = job.snapshot();
  const tensors: Record<string, tfjs.Tensor> = {};
  for (const [k, t] of Object.entries(params)) tensors[`param.${k}`] = t;
  for (const [k, t] of Object.entries(state)) tensors[`state.${k}`] = t;
  for (const [k, t] of Object.entries(optimizer)) tensors[`opt.${k}`] = t;
  const url = joinStoreUrl(folder, name);
  await saveTensors(store, url, tensors, {
    metadata: {
      format: FORMAT,
      layer: JSON.stringify(job.entry),
      optimizer: JSON.stringify(job.optimizer),
      seed: String(job.seed),
      step: String(job.appliedStep),
      optimizerStep: String(optimizerStep),
    },
  });
  await publishLatest(store, folder, name);
  return url;
}

/** The job's state from its LATEST checkpoint; NotFoundError when it has none. */
export async function loadCheckpoint(
  tf: typeof tfjs,
  store: Store,
  stateUrl: string,
  jobId: string,
  maxBytes: number,
): Promise<LayerJob> {
  const folder = jobFolder(stateUrl, jobId);
  const latest = await readLatest(store, folder);
  if (latest === undefined)
    throw new NotFoundError(`job ${jobId}: this layer has no checkpoint under ${folder}; initialize it first`);
  const { tensors, metadata } = await loadTensors(store, joinStoreUrl(folder, latest), { maxBytes });
  try {
    if (metadata?.format !== FORMAT) throw new BadInputError(`${folder}${latest} is not a layer checkpoint`);
    const entry = JSON.parse(metadata.layer ?? 'null') as { type: string; config: unknown };
    const own: Tensors = {};
    const slots = new Map<string, tfjs.Tensor>();
    for (const [name, t] of Object.entries(tensors)) {
      if (name.startsWith('opt.')) slots.set(name.slice(4), t);
      else own[name.replace(/^(param|state)\./, '')] = t;
    }
    return new LayerJob(tf, {
      jobId,
      spec: parseLayerSpec(entry.type, entry.config),
      entry,
      optimizer: parseOptimizerSpec(JSON.parse(metadata.optimizer ?? 'null') ?? undefined),
      seed: Number(metadata.seed ?? 0),
      tensors: own,
      appliedStep: Number(metadata.step ?? 0),
      optimizerState: { step: Number(metadata.optimizerStep ?? 0), slots },
    });
  } catch (e) {
    for (const t of Object.values(tensors)) t.dispose();
    throw e;
  }
}
