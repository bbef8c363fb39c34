// The split-half function's configuration, read once at start (README.md).
import { envInt, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';
import { loadServingConfig, type ServingConfig } from '../_shared/serving/config.js';

export type Half = 'A' | 'B';

export interface SplitHalfConfig {
  half: Half;
  /** `resnet50` (random weights, built here), `resnet-small` (tests, demos), or a file:// / gs:// model folder or `.onnx` file. */
  model: string;
  /** Halves written by `kaskade split --out`: this folder's split.json, front/ and back/ (instead of cutting `model` here). */
  halves: string | undefined;
  /** Class names: `auto` (ImageNet's for 1000 classes), `imagenet`, `none`, or a file:// / gs:// list. */
  labels: string;
  /** Which engine runs the half (KASKADE_SERVING_ENGINE, ONNX Runtime settings). */
  serving: ServingConfig;
  /** Where to cut: a layer name from `kaskade split --list`, `v1`/`v2`/`v3` (the seed's stage cuts), or `balanced`. */
  cut: string;
  /** Half A: the URL of half B (the CloudEvent goes there). */
  nextUrl: string | undefined;
  /** Half A: how long B may take (ms) before A answers 504. */
  timeoutMs: number;
  /** Largest image or tensor body accepted (bytes). */
  maxBodyBytes: number;
  /** Classes half B answers. */
  topK: number;
  /** Seed of the built-in models' random weights (both halves must use the same). */
  seed: number;
}

export function loadConfig(env: Env = process.env): SplitHalfConfig {
  const half = (env.HALF ?? '').toUpperCase();
  if (half !== 'A' && half !== 'B') throw new ConfigError(`HALF must be A or B, got "${env.HALF ?? ''}"`);
  const model = env.MODEL_URI === undefined || env.MODEL_URI === '' ? 'resnet50' : env.MODEL_URI;
  if (!['resnet50', 'resnet-small'].includes(model) && !/^(file|gs):\/\//.test(model))
    throw new ConfigError(
      `MODEL_URI must be resnet50, resnet-small, or a file:// or gs:// model folder or .onnx URL, got "${model}"`,
    );
  const halves = env.HALF_URI === undefined || env.HALF_URI === '' ? undefined : env.HALF_URI;
  if (halves !== undefined && !/^(file|gs):\/\//.test(halves))
    throw new ConfigError(`HALF_URI must be the file:// or gs:// folder kaskade split --out wrote, got "${halves}"`);
  const labels = env.SPLIT_LABELS === undefined || env.SPLIT_LABELS === '' ? 'auto' : env.SPLIT_LABELS;
  if (!['auto', 'imagenet', 'none'].includes(labels) && !/^(file|gs):\/\//.test(labels))
    throw new ConfigError(`SPLIT_LABELS must be auto, imagenet, none, or a file:// or gs:// URL, got "${labels}"`);
  const nextUrl = env.SPLIT_NEXT_URL === undefined || env.SPLIT_NEXT_URL === '' ? undefined : env.SPLIT_NEXT_URL;
  if (half === 'A' && (nextUrl === undefined || !/^https?:\/\//.test(nextUrl)))
    throw new ConfigError(`SPLIT_NEXT_URL must be half B's http(s) URL when HALF=A, got "${nextUrl ?? ''}"`);
  return {
    half,
    model,
    halves,
    labels,
    serving: loadServingConfig(env),
    cut: env.SPLIT_CUT === undefined || env.SPLIT_CUT === '' ? 'v2' : env.SPLIT_CUT,
    nextUrl,
    timeoutMs: envInt(env, 'SPLIT_TIMEOUT_MS', 10_000, { min: 10, max: 600_000 }),
    maxBodyBytes: envInt(env, 'SPLIT_MAX_BODY_BYTES', 16 * 1024 * 1024, { min: 1024, max: 1024 * 1024 * 1024 }),
    topK: envInt(env, 'SPLIT_TOP_K', 5, { min: 1, max: 1000 }),
    seed: envInt(env, 'SPLIT_SEED', 7, { min: 0 }),
  };
}
