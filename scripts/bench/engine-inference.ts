// The serving-engine table of `npm run bench -- engine`: ResNet-50 and the MNIST CNN at batch 1
// and 64, on the wasm rung (a child process per thread count), on ONNX Runtime (the exported
// models, one session per thread count) and on PyTorch (python3-torch, when installed), all
// in one run, with the ratios the serving targets name:
//   ONNX Runtime ResNet-50 batch-1 p50 ≤ 1.0× PyTorch's at the same thread count;
//   ONNX Runtime MNIST CNN inference (batch 64, 1 thread) ≥ 2× the wasm rung's.
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tfjs from '@tensorflow/tfjs';
import { z } from 'zod';
import { selectBackend } from '../../functions/_shared/engine/index.js';
import { buildMnistCnn } from '../../functions/_shared/models/mnist-cnn.js';
import { buildResNet50, foldResNet50 } from '../../functions/_shared/models/resnet50.js';
import { exportOnnx } from '../../functions/_shared/serving/export-onnx.js';
import { loadServingConfig } from '../../functions/_shared/serving/config.js';
import { loadOrt, openOnnxModel } from '../../functions/_shared/serving/onnx-model.js';
import type { ServingModel } from '../../functions/_shared/serving/types.js';

type TF = typeof tfjs;

export const INFER_RESULT_PREFIX = 'KASKADE_INFER_RESULT ';
const BENCH_ENTRY = fileURLToPath(new URL('../bench.ts', import.meta.url));
const TORCH_SCRIPT = fileURLToPath(new URL('./engine_pytorch_infer.py', import.meta.url));
const PYTHON = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const CHILD_TIMEOUT_MS = 20 * 60_000;

const MODELS = ['resnet50', 'mnist-cnn'] as const;
const BATCHES = [1, 64] as const;
type ModelName = (typeof MODELS)[number];

const runSchema = z.object({ model: z.enum(MODELS), batch: z.number(), p50Ms: z.number() });
const engineRunsSchema = z.object({
  engine: z.string(),
  threads: z.number(),
  runs: z.array(runSchema),
  note: z.string().optional(),
});
type EngineRuns = z.infer<typeof engineRunsSchema>;
type Run = z.infer<typeof runSchema>;

export const INFERENCE_TARGETS = { onnxResnet50VsPytorch: { atMost: 1 }, onnxMnistVsWasm: { atLeast: 2 } } as const;

export interface InferenceReport {
  readonly engines: EngineRuns[];
  readonly ratios: {
    /** ONNX Runtime ResNet-50 batch-1 p50 ÷ PyTorch's, per thread count (lower is better). */
    readonly onnxResnet50VsPytorch: Record<string, number>;
    /** ONNX Runtime MNIST CNN batch-64 samples/s ÷ wasm's, per thread count (higher is better). */
    readonly onnxMnistVsWasm: Record<string, number>;
  };
  /** What `--json` carries as `onnx`: the 1-thread ResNet-50 batch-1 p50 and MNIST batch-64 samples/s. */
  readonly onnx: {
    readonly resnet50P50Ms: number | null;
    readonly inferSamplesPerSec: number | null;
    readonly threads: number;
  };
}

/** How many timed runs (after one warm-up): ResNet-50 at batch 64 takes seconds per run. */
function minRuns(model: ModelName, batch: number): number {
  return model === 'resnet50' && batch === 64 ? 2 : 10;
}

async function p50(run: () => Promise<void> | void, budgetMs: number, min: number): Promise<number> {
  await run();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < min || (performance.now() - start < budgetMs && times.length < 50)) {
    const t = performance.now();
    await run();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  const mid = times.length / 2;
  const median =
    times.length % 2 === 1 ? (times[Math.floor(mid)] ?? NaN) : ((times[mid - 1] ?? NaN) + (times[mid] ?? NaN)) / 2;
  return Math.round(median * 100) / 100;
}

function inputShape(model: ModelName, batch: number): number[] {
  return model === 'resnet50' ? [batch, 224, 224, 3] : [batch, 28, 28, 1];
}

function buildModel(tf: TF, model: ModelName, folded: boolean): tfjs.LayersModel {
  if (model === 'mnist-cnn') return buildMnistCnn(tf, { seed: 1 });
  const plain = buildResNet50(tf, { seed: 1 });
  if (!folded) return plain;
  const twin = foldResNet50(tf, plain);
  plain.dispose();
  return twin;
}

// ---- in a child: the wasm rung on N threads ----

export async function measureWasmInference(threads: number, seconds: number): Promise<EngineRuns> {
  await selectBackend({ env: { ...process.env, KASKADE_BACKEND: 'wasm', KASKADE_WASM_THREADS: String(threads) } });
  const tf = await import('@tensorflow/tfjs');
  const runs: Run[] = [];
  for (const model of MODELS) {
    // Served as the predictor would: the batch-norm-folded ResNet-50 (the faster TF.js form).
    const net = buildModel(tf, model, true);
    for (const batch of BATCHES) {
      const x = tf.randomUniform(inputShape(model, batch), 0, 1, 'float32', 3);
      const p = await p50(
        () =>
          tf.tidy(() => {
            const y = net.predict(x);
            if (!(y instanceof tf.Tensor)) throw new TypeError('one output expected');
            y.dataSync();
          }),
        seconds * 1000,
        minRuns(model, batch),
      );
      runs.push({ model, batch, p50Ms: p });
      x.dispose();
    }
    net.dispose();
  }
  return { engine: 'wasm', threads, runs };
}

function runWasmChild(
  threads: number,
  seconds: number,
): Promise<EngineRuns | { engine: string; threads: number; error: string }> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...process.execArgv, BENCH_ENTRY, 'engine', '--infer-child', String(threads), '--seconds', String(seconds)],
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
      const line = out.split('\n').find((l) => l.startsWith(INFER_RESULT_PREFIX));
      const parsed =
        line === undefined ? undefined : engineRunsSchema.safeParse(JSON.parse(line.slice(INFER_RESULT_PREFIX.length)));
      if (code === 0 && parsed?.success) resolve(parsed.data);
      else
        resolve({
          engine: 'wasm',
          threads,
          error:
            signal !== null
              ? `killed by ${signal}`
              : (err
                  .split('\n')
                  .filter((l) => /error/i.test(l))
                  .at(-1)
                  ?.slice(0, 200) ?? `exit ${code}`),
        });
    });
  });
}

// ---- in the parent: ONNX Runtime and PyTorch ----

async function measureOnnx(
  exported: Record<ModelName, Uint8Array>,
  threads: number,
  seconds: number,
): Promise<EngineRuns> {
  const runs: Run[] = [];
  for (const model of MODELS) {
    const served: ServingModel = await openOnnxModel(
      exported[model],
      { ...loadServingConfig({}).onnx, intraOpThreads: threads },
      model,
    );
    const input = served.inputs[0];
    if (input === undefined) throw new TypeError(`${model} has no input`);
    for (const batch of BATCHES) {
      const shape = inputShape(model, batch);
      const data = Float32Array.from(
        { length: shape.reduce((a, b) => a * b, 1) },
        (_, k) => ((k * 2654435761) % 1000) / 1000,
      );
      runs.push({
        model,
        batch,
        p50Ms: await p50(
          async () => void (await served.run({ [input.name]: { dtype: 'float32', shape, data } })),
          seconds * 1000,
          minRuns(model, batch),
        ),
      });
    }
    await served.dispose();
  }
  return { engine: 'onnxruntime', threads, runs };
}

/** What engine_pytorch_infer.py answered, or why it could not (python3-torch not installed, say). */
export type TorchInference = { torch: string; blas: string; runs: Run[] } | { skipped: string };

/**
 * Runs engine_pytorch_infer.py (`only`: `model:batch` runs to keep, e.g. `resnet50:1`), when
 * python3-torch is installed.
 */
export function torchInference(threads: number, seconds: number, only?: readonly string[]): Promise<TorchInference> {
  return new Promise((resolve) => {
    execFile(
      PYTHON,
      [TORCH_SCRIPT, String(threads), String(seconds), ...(only ? [only.join(',')] : [])],
      { timeout: CHILD_TIMEOUT_MS, cwd: dirname(TORCH_SCRIPT) },
      (error, stdout) => {
        if (error !== null) {
          resolve({
            skipped: /No module named/.test(error.message)
              ? 'python3-torch is not installed'
              : (error.message.split('\n')[0] ?? 'failed'),
          });
          return;
        }
        const parsed = z
          .object({ threads: z.number(), torch: z.string(), blas: z.string(), runs: z.array(runSchema) })
          .safeParse(JSON.parse(stdout.trim().split('\n').at(-1) ?? 'null'));
        resolve(parsed.success ? parsed.data : { skipped: 'its output was not understood' });
      },
    );
  });
}

async function measureTorch(threads: number, seconds: number): Promise<EngineRuns | null> {
  const result = await torchInference(threads, seconds);
  if ('skipped' in result) {
    process.stdout.write(`  PyTorch inference skipped: ${result.skipped}\n`);
    return null;
  }
  return { engine: `PyTorch ${result.torch}`, threads, runs: result.runs, note: `BLAS: ${result.blas}` };
}

function find(
  report: readonly EngineRuns[],
  engine: (e: string) => boolean,
  threads: number,
  model: ModelName,
  batch: number,
): number | undefined {
  return report
    .find((e) => engine(e.engine) && e.threads === threads)
    ?.runs.find((r) => r.model === model && r.batch === batch)?.p50Ms;
}

export async function measureInferenceTable(
  tf: TF,
  threadCounts: readonly number[],
  seconds: number,
  withTorch: boolean,
): Promise<InferenceReport> {
  const engines: EngineRuns[] = [];
  for (const threads of threadCounts) {
    process.stdout.write(`  inference: wasm on ${threads} thread(s) …\n`);
    const wasm = await runWasmChild(threads, seconds);
    if ('error' in wasm) process.stdout.write(`  wasm inference on ${threads} thread(s) failed: ${wasm.error}\n`);
    else engines.push(wasm);
  }
  // The exported models: the trained forms (ONNX Runtime folds batch norms into convolutions itself).
  const exported = {
    resnet50: exportOnnx(buildModel(tf, 'resnet50', false)),
    'mnist-cnn': exportOnnx(buildModel(tf, 'mnist-cnn', false)),
  };
  const ort = await loadOrt();
  for (const threads of threadCounts) {
    process.stdout.write(`  inference: ONNX Runtime ${ort.env.versions.node ?? ''} on ${threads} thread(s) …\n`);
    engines.push(await measureOnnx(exported, threads, seconds));
  }
  if (withTorch) {
    for (const threads of threadCounts) {
      process.stdout.write(`  inference: PyTorch on ${threads} thread(s) …\n`);
      const torch = await measureTorch(threads, seconds);
      if (torch === null) break;
      engines.push(torch);
    }
  }
  const round = (v: number): number => Math.round(v * 100) / 100;
  const onnxResnet50VsPytorch: Record<string, number> = {};
  const onnxMnistVsWasm: Record<string, number> = {};
  for (const threads of threadCounts) {
    const onnxResnet = find(engines, (e) => e === 'onnxruntime', threads, 'resnet50', 1);
    const torchResnet = find(engines, (e) => e.startsWith('PyTorch'), threads, 'resnet50', 1);
    if (onnxResnet !== undefined && torchResnet !== undefined)
      onnxResnet50VsPytorch[`threads${threads}`] = round(onnxResnet / torchResnet);
    const onnxMnist = find(engines, (e) => e === 'onnxruntime', threads, 'mnist-cnn', 64);
    const wasmMnist = find(engines, (e) => e === 'wasm', threads, 'mnist-cnn', 64);
    if (onnxMnist !== undefined && wasmMnist !== undefined)
      onnxMnistVsWasm[`threads${threads}`] = round(wasmMnist / onnxMnist);
  }
  const one = threadCounts[0] ?? 1;
  const mnist64 = find(engines, (e) => e === 'onnxruntime', one, 'mnist-cnn', 64);
  return {
    engines,
    ratios: { onnxResnet50VsPytorch, onnxMnistVsWasm },
    onnx: {
      resnet50P50Ms: find(engines, (e) => e === 'onnxruntime', one, 'resnet50', 1) ?? null,
      inferSamplesPerSec: mnist64 === undefined ? null : Math.round((64 * 1000) / mnist64),
      threads: one,
    },
  };
}

export function printInferenceTable(report: InferenceReport): void {
  const fmt = (v: number | undefined, digits = 1): string =>
    v === undefined ? '—' : v.toLocaleString('en-US', { maximumFractionDigits: digits });
  const perSec = (ms: number | undefined, batch: number): string =>
    ms === undefined ? '—' : fmt((batch * 1000) / ms, (batch * 1000) / ms < 100 ? 1 : 0);
  const rows: string[][] = [
    [
      'engine',
      'threads',
      'ResNet-50 b1 p50 ms',
      'ResNet-50 b64 p50 ms',
      'ResNet-50 b64 /s',
      'MNIST b1 p50 ms',
      'MNIST b64 p50 ms',
      'MNIST b64 /s',
      'notes',
    ],
  ];
  for (const e of report.engines) {
    const at = (model: ModelName, batch: number): number | undefined =>
      e.runs.find((r) => r.model === model && r.batch === batch)?.p50Ms;
    const label =
      e.engine === 'wasm'
        ? 'TF.js wasm (folded ResNet-50)'
        : e.engine === 'onnxruntime'
          ? 'ONNX Runtime (exported)'
          : e.engine;
    rows.push([
      label,
      String(e.threads),
      fmt(at('resnet50', 1)),
      fmt(at('resnet50', 64), 0),
      perSec(at('resnet50', 64), 64),
      fmt(at('mnist-cnn', 1), 2),
      fmt(at('mnist-cnn', 64), 2),
      perSec(at('mnist-cnn', 64), 64),
      e.note ?? '',
    ]);
  }
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  const line = (r: string[]): string => `| ${r.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  process.stdout.write(
    `\ninference (p50 of ≥10 runs after a warm-up; ResNet-50 at batch 64: 2 runs):\n${line(rows[0] ?? [])}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n${rows.slice(1).map(line).join('\n')}\n`,
  );
  const verdict = (ok: boolean): string => (ok ? 'meets' : 'MISSES');
  for (const [threads, r] of Object.entries(report.ratios.onnxResnet50VsPytorch)) {
    process.stdout.write(
      `  ONNX Runtime ResNet-50 b1 p50 ${r.toFixed(2)}× PyTorch's on ${threads.slice(7)} thread(s) (target ≤ ${INFERENCE_TARGETS.onnxResnet50VsPytorch.atMost}×, ${verdict(r <= INFERENCE_TARGETS.onnxResnet50VsPytorch.atMost)})\n`,
    );
  }
  for (const [threads, r] of Object.entries(report.ratios.onnxMnistVsWasm)) {
    process.stdout.write(
      `  ONNX Runtime MNIST CNN b64 ${r.toFixed(2)}× wasm's samples/s on ${threads.slice(7)} thread(s) (target ≥ ${INFERENCE_TARGETS.onnxMnistVsWasm.atLeast}×, ${verdict(r >= INFERENCE_TARGETS.onnxMnistVsWasm.atLeast)})\n`,
    );
  }
}
