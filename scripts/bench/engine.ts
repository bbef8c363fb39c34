// `npm run bench -- engine [--json] [--seconds S] [--rungs node-gpu,node,wasm,wasm:2,cpu]
//                          [--torch-threads 1,2] [--inference-only]`
//
// For every backend rung that loads (each in its own child process, since a TF.js backend
// and its thread pool are per process): MNIST CNN training samples/s (batch 64, the lean
// train step, and model.fit for comparison), inference samples/s (batch 512), ResNet-50
// batch-1 latency (p50 of 10 after warm-up; batch-norm-folded and plain), imdb-bigru training
// samples/s (batch 32, 500 tokens; not on the pure-JS rung), then the wire
// codec's encode/decode GB/s, and a PyTorch CPU baseline (1 and 2 threads) when
// python3-torch is installed, with each rung's ratios to PyTorch on 1 thread against the
// targets. Then the serving-engine table (scripts/bench/engine-inference.ts): ResNet-50 and the
// MNIST CNN at batch 1 and 64 on wasm, ONNX Runtime and PyTorch, 1 and 2 threads
// (`--inference-only` measures just that table). `--json` adds one JSON object on the last line:
// `{rungs: {<spec>: {trainSamplesPerSec, inferSamplesPerSec, resnet50P50Ms, imdbBigruTrainSamplesPerSec, …}},
//   pytorch: {threads1: {…}, threads2: {…}} | null, ratios: {<spec>: {train, infer, resnet50}}, …,
//   inference: {engines, ratios}, onnx: {resnet50P50Ms, inferSamplesPerSec, threads}}`.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type * as tfjs from '@tensorflow/tfjs';
import { z } from 'zod';
import { selectBackend } from '../../functions/_shared/engine/index.js';
import { RUNGS, type Rung } from '../../functions/_shared/engine/ladder.js';
import { makeTrainStep } from '../../functions/_shared/engine/train-step.js';
import { buildImdbBiGru } from '../../functions/_shared/models/imdb.js';
import { buildMnistCnn } from '../../functions/_shared/models/mnist-cnn.js';
import { buildResNet50, foldResNet50 } from '../../functions/_shared/models/resnet50.js';
import { decodeTensors, encodeTensors, type WireTensor } from '../../functions/_shared/wire/safetensors.js';
import {
  INFER_RESULT_PREFIX,
  measureInferenceTable,
  measureWasmInference,
  printInferenceTable,
  type InferenceReport,
} from './engine-inference.js';

type TF = typeof tfjs;

type RungResult = z.infer<typeof rungResultSchema>;
type TorchResult = z.infer<typeof torchResultSchema>;

const RESULT_PREFIX = 'KASKADE_BENCH_RESULT ';
const CHILD_TIMEOUT_MS = 10 * 60_000;
const TORCH_TIMEOUT_MS = 10 * 60_000; // the BiGRU alone takes minutes on a loaded machine
const BENCH_ENTRY = fileURLToPath(new URL('../bench.ts', import.meta.url));
const TORCH_SCRIPT = fileURLToPath(new URL('./engine_pytorch.py', import.meta.url));

export async function main(argv: string[]): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      json: { type: 'boolean', default: false },
      seconds: { type: 'string', default: '4' },
      rungs: { type: 'string' },
      child: { type: 'string' },
      'torch-threads': { type: 'string' },
      'infer-child': { type: 'string' },
      'inference-only': { type: 'boolean', default: false },
    },
  });
  const seconds = Number(values.seconds);
  if (!(seconds > 0)) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
  if (values.child !== undefined) {
    const result = await measureRung(values.child, seconds);
    process.stdout.write(`${RESULT_PREFIX}${JSON.stringify(result)}\n`);
    return;
  }
  if (values['infer-child'] !== undefined) {
    const result = await measureWasmInference(Number(values['infer-child']), seconds);
    process.stdout.write(`${INFER_RESULT_PREFIX}${JSON.stringify(result)}\n`);
    return;
  }
  if (values['inference-only']) {
    await inferenceOnly(values.json, seconds, values['torch-threads']);
    return;
  }
  const specs = values.rungs?.split(',').map((s) => s.trim()) ?? defaultSpecs();
  const load = loadavg()[0] ?? 0;
  process.stdout.write(
    `engine benchmark: ${availableParallelism()} CPUs, load average ${load.toFixed(2)} at start${load > 1 ? ' (other work is running: figures are pessimistic)' : ''}\n`,
  );
  const rungs: Record<string, RungResult | { error: string }> = {};
  for (const spec of specs) {
    process.stdout.write(`  measuring ${spec} …\n`);
    rungs[spec] = await runChild(spec, seconds);
  }
  const codec = measureCodec();
  const pytorch: Record<string, TorchResult> = {};
  for (const threads of torchThreads(values['torch-threads'])) {
    process.stdout.write(`  measuring PyTorch on ${threads} thread(s) …\n`);
    const result = await runTorch(threads, seconds);
    if (result === null) break; // not installed, or broken: no use trying more threads
    pytorch[`threads${threads}`] = result;
  }
  const baseline = pytorch.threads1 ?? null;
  const ratios = baseline === null ? null : ratiosAgainst(rungs, baseline);
  const inference = await inferenceReport(seconds, values['torch-threads']);
  const loadAtEnd = loadavg()[0] ?? 0;
  printTable(rungs, codec, Object.values(pytorch));
  if (baseline !== null && ratios !== null) printRatios(ratios, baseline);
  printImdbBiGru(rungs, pytorch);
  printInferenceTable(inference);
  process.stdout.write(
    `\nload average ${load.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at end (${availableParallelism()} CPUs)\n`,
  );
  if (values.json) {
    const torch = Object.keys(pytorch).length > 0 ? pytorch : null;
    const { engines, ratios: inferenceRatios, onnx } = inference;
    process.stdout.write(
      `${JSON.stringify({ rungs, codec, pytorch: torch, ratios, targets: TARGETS, inference: { engines, ratios: inferenceRatios }, onnx, loadAverage: load, loadAverageAtEnd: loadAtEnd })}\n`,
    );
  }
}

/** The serving-engine table on 1 and 2 threads (or --torch-threads), exports built on the CPU backend. */
async function inferenceReport(seconds: number, threadsOption: string | undefined): Promise<InferenceReport> {
  const tf = await import('@tensorflow/tfjs');
  await tf.setBackend('cpu');
  return measureInferenceTable(tf, torchThreads(threadsOption), seconds, true);
}

async function inferenceOnly(json: boolean, seconds: number, threadsOption: string | undefined): Promise<void> {
  const load = loadavg()[0] ?? 0;
  process.stdout.write(
    `engine benchmark (inference only): ${availableParallelism()} CPUs, load average ${load.toFixed(2)} at start\n`,
  );
  const report = await inferenceReport(seconds, threadsOption);
  const loadAtEnd = loadavg()[0] ?? 0;
  printInferenceTable(report);
  process.stdout.write(
    `\nload average ${load.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at end (${availableParallelism()} CPUs)\n`,
  );
  if (json)
    process.stdout.write(
      `${JSON.stringify({ inference: { engines: report.engines, ratios: report.ratios }, onnx: report.onnx, loadAverage: load, loadAverageAtEnd: loadAtEnd })}\n`,
    );
}

/** PyTorch thread counts to measure: 1, and 2 where the machine has two CPUs. */
function torchThreads(option: string | undefined): number[] {
  if (option === undefined) return availableParallelism() > 1 ? [1, 2] : [1];
  const threads = option.split(',').map((t) => Number(t.trim()));
  if (!threads.every((t) => Number.isInteger(t) && t >= 1))
    throw new Error(`--torch-threads must list positive integers, got ${option}`);
  return threads;
}

/** The engine's targets, each rung against PyTorch on 1 thread in the same run. */
const TARGETS = {
  train: { atLeast: 0.4 },
  infer: { atLeast: 1 },
  resnet50: { atMost: 2 },
  imdbBigru: { atLeast: 0.25 },
} as const;

interface Ratios {
  /** wasm training samples/s ÷ PyTorch's (higher is better). */
  train: number;
  /** inference samples/s ÷ PyTorch's (higher is better). */
  infer: number;
  /** ResNet-50 batch-1 p50 latency (folded) ÷ PyTorch's (lower is better). */
  resnet50: number | null;
  /** imdb-bigru training samples/s ÷ PyTorch's (higher is better). */
  imdbBigru: number | null;
}

function ratiosAgainst(
  rungs: Record<string, RungResult | { error: string }>,
  torch: TorchResult,
): Record<string, Ratios> {
  const round = (v: number): number => Math.round(v * 100) / 100;
  const out: Record<string, Ratios> = {};
  for (const [spec, r] of Object.entries(rungs)) {
    if ('error' in r) continue;
    out[spec] = {
      train: round(r.trainSamplesPerSec / torch.trainSamplesPerSec),
      infer: round(r.inferSamplesPerSec / torch.inferSamplesPerSec),
      resnet50: r.resnet50P50Ms === null ? null : round(r.resnet50P50Ms / torch.resnet50P50Ms),
      imdbBigru:
        r.imdbBigruTrainSamplesPerSec === null
          ? null
          : round(r.imdbBigruTrainSamplesPerSec / torch.imdbBigruTrainSamplesPerSec),
    };
  }
  return out;
}

/** Every rung, and the wasm rung again with one thread per CPU when there is more than one. */
function defaultSpecs(): string[] {
  const cpus = availableParallelism();
  return RUNGS.flatMap((r) => (r === 'wasm' && cpus > 1 ? ['wasm', `wasm:${cpus}`] : [r]));
}

function parseSpec(spec: string): { rung: Rung; threads: number } {
  const [name, threads] = spec.split(':');
  const rung = RUNGS.find((r) => r === name);
  if (rung === undefined) throw new Error(`unknown rung "${spec}" (${RUNGS.join(', ')}, wasm:<threads>)`);
  return { rung, threads: threads === undefined ? 1 : Number(threads) };
}

function runChild(spec: string, seconds: number): Promise<RungResult | { error: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, BENCH_ENTRY, 'engine', '--child', spec, '--seconds', String(seconds)],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: CHILD_TIMEOUT_MS,
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('close', (code, signal) => {
      const line = out.split('\n').find((l) => l.startsWith(RESULT_PREFIX));
      if (code === 0 && line !== undefined) {
        resolve(parseRungResult(line.slice(RESULT_PREFIX.length)));
        return;
      }
      const reason = signal !== null ? `killed by ${signal}` : (lastErrorLine(err) ?? `exit ${code}`);
      resolve({ error: reason });
    });
  });
}

function lastErrorLine(stderr: string): string | undefined {
  const missing = /Cannot find package '([^']+)'/.exec(stderr);
  if (missing) return `${missing[1]} is not installed`;
  const lines = stderr.split('\n').filter((l) => /error/i.test(l));
  return lines.at(-1)?.trim().slice(0, 200);
}

const rungResultSchema = z.object({
  trainSamplesPerSec: z.number(),
  fitSamplesPerSec: z.number(),
  inferSamplesPerSec: z.number(),
  resnet50P50Ms: z.number().nullable(),
  resnet50PlainP50Ms: z.number().nullable(),
  imdbBigruTrainSamplesPerSec: z.number().nullable(),
  threads: z.number(),
  note: z.string().optional(),
});

const torchResultSchema = z.object({
  threads: z.number(),
  trainSamplesPerSec: z.number(),
  inferSamplesPerSec: z.number(),
  resnet50P50Ms: z.number(),
  imdbBigruTrainSamplesPerSec: z.number(),
  blas: z.string(),
  torch: z.string(),
});

function parseRungResult(text: string): RungResult | { error: string } {
  const parsed = rungResultSchema.safeParse(JSON.parse(text));
  return parsed.success ? parsed.data : { error: `unexpected child output: ${text.slice(0, 200)}` };
}

// ---- in the child: one rung ----

async function measureRung(spec: string, seconds: number): Promise<RungResult> {
  const { rung, threads } = parseSpec(spec);
  await selectBackend({ env: { ...process.env, KASKADE_BACKEND: rung, KASKADE_WASM_THREADS: String(threads) } });
  const tf = await import('@tensorflow/tfjs');
  // The pure-JS rung needs seconds per training step: measure fewer of them.
  const budget = rung === 'cpu' ? Math.min(seconds, 2) : seconds;
  const train = measureTraining(tf, budget);
  const fit = await measureFit(tf, rung === 'cpu' ? 1 : 10);
  const infer = measureInference(tf, budget);
  const skipResnet = rung === 'cpu';
  const resnet = skipResnet ? null : measureResNet50(tf);
  const bigru = rung === 'cpu' ? null : measureImdbBiGru(tf, seconds);
  return {
    trainSamplesPerSec: Math.round(train),
    fitSamplesPerSec: Math.round(fit),
    inferSamplesPerSec: Math.round(infer),
    resnet50P50Ms: resnet?.folded ?? null,
    resnet50PlainP50Ms: resnet?.plain ?? null,
    imdbBigruTrainSamplesPerSec: bigru,
    threads,
    ...(skipResnet ? { note: 'ResNet-50 and imdb-bigru skipped: pure JS takes minutes per image or batch' } : {}),
  };
}

/** Runs `step` (after warm-up) until both `minRuns` and `seconds` are reached; returns runs/s. */
function rate(step: () => void, seconds: number, warmUp = 3, minRuns = 5): number {
  for (let i = 0; i < warmUp; i++) step();
  let runs = 0;
  const start = performance.now();
  while (runs < minRuns || performance.now() - start < seconds * 1000) {
    step();
    runs++;
  }
  return runs / ((performance.now() - start) / 1000);
}

function mnistBatch(tf: TF, n: number): { xs: tfjs.Tensor; ys: tfjs.Tensor } {
  const xs = tf.randomUniform([n, 28, 28, 1], 0, 1, 'float32', 1);
  const ys = tf.oneHot(
    tf.tensor1d(
      Array.from({ length: n }, (_, i) => (i * 7) % 10),
      'int32',
    ),
    10,
  );
  return { xs, ys };
}

function measureTraining(tf: TF, seconds: number): number {
  const model = buildMnistCnn(tf, { seed: 1 });
  const step = makeTrainStep(tf, model);
  const { xs, ys } = mnistBatch(tf, 64);
  // Each step's loss is read back, as a training loop that logs it would.
  const steps = rate(() => step(xs, ys).dispose(), seconds, 3, tf.getBackend() === 'cpu' ? 2 : 5);
  tf.dispose([xs, ys]);
  model.dispose();
  return 64 * steps;
}

async function measureFit(tf: TF, batches: number): Promise<number> {
  const model = buildMnistCnn(tf, { seed: 1 });
  const { xs, ys } = mnistBatch(tf, 64 * batches);
  await model.fit(xs, ys, { batchSize: 64, epochs: 1, verbose: 0 });
  const start = performance.now();
  await model.fit(xs, ys, { batchSize: 64, epochs: 1, verbose: 0, shuffle: false });
  const perSec = (64 * batches) / ((performance.now() - start) / 1000);
  tf.dispose([xs, ys]);
  model.dispose();
  return perSec;
}

function measureInference(tf: TF, seconds: number): number {
  const model = buildMnistCnn(tf, { seed: 1 });
  const { xs, ys } = mnistBatch(tf, 512);
  const batches = rate(
    () =>
      tf.tidy(() => {
        const y = model.predict(xs, { batchSize: 512 });
        if (!(y instanceof tf.Tensor)) throw new Error('the MNIST CNN has one output');
        y.dataSync();
      }),
    seconds,
    2,
    tf.getBackend() === 'cpu' ? 2 : 5,
  );
  tf.dispose([xs, ys]);
  model.dispose();
  return 512 * batches;
}

function p50Latency(tf: TF, model: tfjs.LayersModel, x: tfjs.Tensor): number {
  const once = (): number => {
    const start = performance.now();
    tf.tidy(() => {
      const y = model.predict(x);
      if (!(y instanceof tf.Tensor)) throw new Error('ResNet-50 has one output');
      y.dataSync();
    });
    return performance.now() - start;
  };
  for (let i = 0; i < 3; i++) once();
  const times = Array.from({ length: 10 }, once).sort((a, b) => a - b);
  return Math.round(((times[4] ?? NaN) + (times[5] ?? NaN)) * 5) / 10;
}

function measureResNet50(tf: TF): { folded: number; plain: number } {
  const model = buildResNet50(tf, { seed: 1 });
  const folded = foldResNet50(tf, model);
  const x = tf.randomUniform([1, 224, 224, 3], 0, 1, 'float32', 2);
  const result = { folded: p50Latency(tf, folded, x), plain: p50Latency(tf, model, x) };
  tf.dispose(x);
  model.dispose();
  folded.dispose();
  return result;
}

/** imdb-bigru training samples/s at batch 32 and 500 tokens (the lean step, binary cross-entropy). */
function measureImdbBiGru(tf: TF, seconds: number): number {
  const [batch, tokens] = [32, 500];
  const model = buildImdbBiGru(tf, { seed: 1, maxLen: tokens });
  const step = makeTrainStep(tf, model, { loss: 'binaryCrossentropy' });
  const xs = tf.tensor2d(
    Int32Array.from({ length: batch * tokens }, (_, i) => 2 + ((i * 7919) % 9998)),
    [batch, tokens],
    'int32',
  );
  const ys = tf.tensor2d(
    Float32Array.from({ length: batch }, (_, i) => i % 2),
    [batch, 1],
  );
  // Seconds per step: one warm-up, then at least two measured.
  const steps = rate(() => step(xs, ys).dispose(), seconds, 1, 2);
  tf.dispose([xs, ys]);
  model.dispose();
  return Math.round(batch * steps * 100) / 100;
}

// ---- in the parent: codec, PyTorch, report ----

function measureCodec(): { encodeGBps: number; decodeGBps: number; megabytes: number } {
  const tensors: Record<string, WireTensor> = {};
  for (let i = 0; i < 16; i++) {
    const data = new Float32Array(1 << 20);
    for (let j = 0; j < data.length; j += 97) data[j] = j;
    tensors[`layer${i}/kernel`] = { dtype: 'F32', shape: [1024, 1024], data };
  }
  const bytes = 16 * 4 * (1 << 20);
  let encoded = encodeTensors(tensors);
  const encodeRate = rate(() => (encoded = encodeTensors(tensors)), 1, 1, 3);
  const decodeRate = rate(() => decodeTensors(encoded), 1, 1, 3);
  const gb = (r: number): number => Math.round(((bytes * r) / 1e9) * 100) / 100;
  return { encodeGBps: gb(encodeRate), decodeGBps: gb(decodeRate), megabytes: bytes / 1e6 };
}

// Debian's python3-torch installs for the system interpreter, which a version manager on PATH
// (pyenv, conda) may shadow.
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';

function runTorch(threads: number, seconds: number): Promise<TorchResult | null> {
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      [TORCH_SCRIPT, String(threads), String(seconds)],
      { timeout: TORCH_TIMEOUT_MS },
      (error, stdout) => {
        if (error !== null) {
          process.stdout.write(
            `  PyTorch baseline skipped: ${/No module named/.test(error.message) ? 'python3-torch is not installed' : error.message.split('\n')[0]}\n`,
          );
          resolve(null);
          return;
        }
        try {
          const parsed = torchResultSchema.safeParse(JSON.parse(stdout.trim().split('\n').at(-1) ?? ''));
          resolve(parsed.success ? parsed.data : null);
        } catch (e) {
          process.stdout.write(`  PyTorch baseline output unreadable: ${e instanceof Error ? e.message : String(e)}\n`);
          resolve(null);
        }
      },
    );
  });
}

/** `wasm:2` → `wasm (2 threads)`; other specs as they are. */
function rungLabel(spec: string): string {
  const [name, threads] = spec.split(':');
  if (name !== 'wasm') return spec;
  const n = threads === undefined ? 1 : Number(threads);
  return `wasm (${n} thread${n === 1 ? '' : 's'})`;
}

function printTable(
  rungs: Record<string, RungResult | { error: string }>,
  codec: { encodeGBps: number; decodeGBps: number; megabytes: number },
  torch: TorchResult[],
): void {
  const fmt = (v: number | null | undefined, digits = 0): string =>
    v === null || v === undefined || Number.isNaN(v)
      ? '—'
      : v.toLocaleString('en-US', { maximumFractionDigits: digits });
  const rows: string[][] = [
    ['rung', 'train /s (step)', 'train /s (fit)', 'infer /s', 'ResNet-50 ms (folded)', 'ResNet-50 ms (plain)', 'notes'],
  ];
  for (const [spec, r] of Object.entries(rungs)) {
    if ('error' in r) rows.push([rungLabel(spec), '—', '—', '—', '—', '—', `not available: ${r.error}`]);
    else
      rows.push([
        rungLabel(spec),
        fmt(r.trainSamplesPerSec),
        fmt(r.fitSamplesPerSec),
        fmt(r.inferSamplesPerSec),
        fmt(r.resnet50P50Ms, 1),
        fmt(r.resnet50PlainP50Ms, 1),
        r.note ?? '',
      ]);
  }
  for (const t of torch) {
    rows.push([
      `PyTorch ${t.torch} (${t.threads} thread${t.threads === 1 ? '' : 's'})`,
      fmt(t.trainSamplesPerSec),
      '',
      fmt(t.inferSamplesPerSec),
      fmt(t.resnet50P50Ms, 1),
      '',
      `BLAS: ${t.blas}`,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write(
    `\n${line(rows[0] ?? [])}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.slice(1).map(line).join('\n')}\n`,
  );
  process.stdout.write(
    `\ncodec (safetensors, ${codec.megabytes} MB of float32): encode ${codec.encodeGBps} GB/s, decode ${codec.decodeGBps} GB/s (decode returns views, no copy)\n`,
  );
}

function printRatios(ratios: Record<string, Ratios>, torch: TorchResult): void {
  const verdict = (ok: boolean): string => (ok ? 'meets' : 'MISSES');
  process.stdout.write(`\nagainst PyTorch on 1 thread in this run (BLAS: ${torch.blas}):\n`);
  for (const [spec, r] of Object.entries(ratios)) {
    const parts = [
      `train ${r.train.toFixed(2)}× PyTorch (target ≥ ${TARGETS.train.atLeast}×, ${verdict(r.train >= TARGETS.train.atLeast)})`,
      `infer ${r.infer.toFixed(2)}× (target ≥ ${TARGETS.infer.atLeast}×, ${verdict(r.infer >= TARGETS.infer.atLeast)})`,
      r.resnet50 === null
        ? 'ResNet-50 not measured'
        : `ResNet-50 latency ${r.resnet50.toFixed(2)}× (target ≤ ${TARGETS.resnet50.atMost}×, ${verdict(r.resnet50 <= TARGETS.resnet50.atMost)})`,
      r.imdbBigru === null
        ? 'imdb-bigru not measured'
        : `imdb-bigru train ${r.imdbBigru.toFixed(2)}× (target ≥ ${TARGETS.imdbBigru.atLeast}×, ${verdict(r.imdbBigru >= TARGETS.imdbBigru.atLeast)})`,
    ];
    process.stdout.write(`  ${rungLabel(spec)}: ${parts.join('; ')}\n`);
  }
  if (torch.blas === 'reference') {
    process.stdout.write(
      "  (PyTorch runs on the reference BLAS here, so its ResNet-50 latency is far above an OpenBLAS/MKL build's; the latency ratio flatters wasm)\n",
    );
  }
}

/** imdb-bigru's own table: training samples/s (batch 32, 500 tokens) per rung and for PyTorch. */
function printImdbBiGru(
  rungs: Record<string, RungResult | { error: string }>,
  torch: Record<string, TorchResult>,
): void {
  const baseline = torch.threads1?.imdbBigruTrainSamplesPerSec;
  const rows = [['imdb-bigru training (batch 32, 500 tokens)', 'samples/s', '× PyTorch (1 thread)']];
  for (const [spec, r] of Object.entries(rungs)) {
    const value = 'error' in r ? null : r.imdbBigruTrainSamplesPerSec;
    const ratio = value === null || baseline === undefined ? '—' : `${(value / baseline).toFixed(2)}×`;
    rows.push([rungLabel(spec), value === null ? '—' : value.toFixed(2), ratio]);
  }
  for (const t of Object.values(torch)) {
    rows.push([
      `PyTorch ${t.torch} (${t.threads} thread${t.threads === 1 ? '' : 's'})`,
      t.imdbBigruTrainSamplesPerSec.toFixed(2),
      baseline === undefined ? '' : `${(t.imdbBigruTrainSamplesPerSec / baseline).toFixed(2)}×`,
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((row) => (row[i] ?? '').length))) ?? [];
  const line = (row: string[]): string => `| ${row.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write(
    `\n${line(rows[0] ?? [])}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.slice(1).map(line).join('\n')}\n`,
  );
  process.stdout.write(
    `target: ≥ ${TARGETS.imdbBigru.atLeast}× PyTorch on 1 thread (PyTorch's GRU resets after the recurrent product, TF.js's before: same work per step)\n`,
  );
}
