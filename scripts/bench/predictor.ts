// `npm run bench -- predictor [--seconds 5] [--cold-starts 3] [--clients 1,8]
// [--batch-max-size 32] [--batch-max-latency-ms 2] [--json]`: the predictor's cold start
// (process start → first successful v2 infer, model load included) and v2 infer latency p50/p99
// and requests/s per number of concurrent clients over loopback. `--batch-max-size` takes a list
// (e.g. `1,32`: 1 = batching off) and measures a fresh predictor per value; the latency flag
// likewise. Unset, the predictor's defaults apply. With --json the last line is the whole result.
// `--observability both [--repeats 3]` compares metrics and tracing off and on (KASKADE_OBSERVABILITY)
// instead, alternating fresh predictors; `on` or `off` runs the usual measure in that mode.
import { Command } from 'commander';
import { compareObservability, comparisonTable, parseObservability } from './observability.js';
import {
  measureColdStart,
  measureLoad,
  publishBenchModel,
  spawnPredictor,
  waitForFirstInfer,
  type BenchModel,
  type LoadResult,
} from '../../test/support/predictor-process.js';

interface Setting {
  batchMaxSize?: number;
  batchMaxLatencyMs?: number;
}

interface SettingResult extends Setting {
  load: LoadResult[];
}

export async function main(argv: string[]): Promise<void> {
  const options = new Command('predictor')
    .option('--seconds <n>', 'measured seconds per concurrency level', '5')
    .option('--cold-starts <n>', 'cold starts to time', '3')
    .option('--clients <list>', 'concurrency levels', '1,8')
    .option('--batch-max-size <list>', 'KASKADE_BATCH_MAX_SIZE values to compare (1 = no batching)')
    .option('--batch-max-latency-ms <list>', 'KASKADE_BATCH_MAX_LATENCY_MS values to compare')
    .option('--observability <mode>', 'on, off, or both: compare the predictor with metrics and tracing off and on')
    .option('--repeats <n>', 'runs per mode with --observability both', '3')
    .option('--json', 'print the result as JSON on the last line')
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<{
      seconds: string;
      coldStarts: string;
      clients: string;
      batchMaxSize?: string;
      batchMaxLatencyMs?: string;
      observability?: string;
      repeats: string;
      json?: boolean;
    }>();
  const modes = parseObservability(options.observability);
  if (modes?.length === 2) {
    await compareModes(integers(options.clients), Number(options.seconds), Number(options.repeats), options.json);
    return;
  }
  const modeEnv: Record<string, string> = modes === undefined ? {} : { KASKADE_OBSERVABILITY: modes[0] ?? 'on' };
  const seconds = Number(options.seconds);
  const coldStarts = Number(options.coldStarts);
  const levels = integers(options.clients);
  const sizes = options.batchMaxSize === undefined ? [undefined] : integers(options.batchMaxSize);
  const latencies = options.batchMaxLatencyMs === undefined ? [undefined] : integers(options.batchMaxLatencyMs);
  if (
    !(seconds > 0) ||
    !Number.isInteger(coldStarts) ||
    coldStarts < 0 ||
    levels.some((c) => c < 1) ||
    sizes.some((s) => s !== undefined && s < 1) ||
    latencies.some((l) => l !== undefined && l < 0)
  ) {
    throw new Error(
      '--seconds must be > 0, --cold-starts an integer ≥ 0, --clients and --batch-max-size positive integers, --batch-max-latency-ms integers ≥ 0',
    );
  }
  const settings: Setting[] = sizes.flatMap((batchMaxSize) =>
    latencies.map((batchMaxLatencyMs) => defined({ batchMaxSize, batchMaxLatencyMs })),
  );

  const model = await publishBenchModel();
  try {
    const cold: number[] = [];
    for (let i = 0; i < coldStarts; i++) {
      cold.push(await measureColdStart(model));
      process.stderr.write(`cold start ${i + 1}/${coldStarts}: ${Math.round(cold[i] ?? NaN)} ms\n`);
    }
    const results: SettingResult[] = [];
    for (const setting of settings)
      results.push({ ...setting, load: await measureSetting(model, setting, levels, seconds, modeEnv) });

    const sorted = [...cold].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const lines = [
      'predictor: v2 infer, one 28×28 image per request, MNIST CNN (untrained weights), loopback',
      '',
      '| batch max size | batch max latency ms | clients | requests | req/s | p50 ms | p99 ms | server CPU ms/request | failures |',
      '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...results.flatMap((s) =>
        s.load.map(
          (r) =>
            `| ${s.batchMaxSize ?? 'default'} | ${s.batchMaxLatencyMs ?? 'default'} | ${r.clients} | ${r.requests} | ${r.requestsPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.serverCpuMsPerRequest?.toFixed(2) ?? 'n/a'} | ${r.failures} |`,
        ),
      ),
      '',
      `cold start (process start → first successful infer, model load included): ${cold.map((c) => `${Math.round(c)} ms`).join(', ') || 'not measured'}${median === undefined ? '' : ` (median ${Math.round(median)} ms)`}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({ bench: 'predictor', settings: results, coldStartMs: cold, coldStartMedianMs: median ?? null })}\n`,
      );
    }
  } finally {
    await model.cleanup();
  }
}

/** One fresh predictor with `setting`, loaded at each concurrency level in turn. */
async function measureSetting(
  model: BenchModel,
  setting: Setting,
  levels: readonly number[],
  seconds: number,
  extraEnv: Record<string, string> = {},
): Promise<LoadResult[]> {
  const env: Record<string, string> = { ...extraEnv };
  if (setting.batchMaxSize !== undefined) env.KASKADE_BATCH_MAX_SIZE = String(setting.batchMaxSize);
  if (setting.batchMaxLatencyMs !== undefined) env.KASKADE_BATCH_MAX_LATENCY_MS = String(setting.batchMaxLatencyMs);
  const running = await spawnPredictor(model, env);
  const load: LoadResult[] = [];
  try {
    await waitForFirstInfer(running.url, performance.now());
    for (const clients of levels)
      load.push(await measureLoad(running.url, clients, seconds * 1000, 500, running.process.pid));
  } finally {
    await running.stop();
  }
  return load;
}

/** Observability off and on, alternating, `repeats` fresh predictors each: medians and ratios. */
async function compareModes(
  levels: readonly number[],
  seconds: number,
  repeats: number,
  json?: boolean,
): Promise<void> {
  if (!(seconds > 0) || !Number.isInteger(repeats) || repeats < 1) throw new Error('--seconds > 0 and --repeats ≥ 1');
  const model = await publishBenchModel();
  try {
    const comparison = await compareObservability(
      repeats,
      async (mode) => {
        const load = await measureSetting(model, {}, levels, seconds, { KASKADE_OBSERVABILITY: mode });
        const out: Record<string, number> = {};
        for (const r of load) {
          out[`${r.clients} clients req/s`] = r.requestsPerSecond;
          out[`${r.clients} clients p50 ms`] = r.p50Ms;
          out[`${r.clients} clients p99 ms`] = r.p99Ms;
          if (r.serverCpuMsPerRequest !== null)
            out[`${r.clients} clients server CPU ms/request`] = r.serverCpuMsPerRequest;
        }
        return out;
      },
      (line) => void process.stderr.write(`${line}\n`),
    );
    process.stdout.write(
      `${comparisonTable('predictor: v2 infer, MNIST CNN, loopback, observability off vs on', comparison)}\n`,
    );
    if (json) process.stdout.write(`${JSON.stringify({ bench: 'predictor-observability', ...comparison })}\n`);
  } finally {
    await model.cleanup();
  }
}

function integers(list: string): number[] {
  return list.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n)) throw new Error(`"${s}" is not an integer`);
    return n;
  });
}

function defined(setting: { batchMaxSize: number | undefined; batchMaxLatencyMs: number | undefined }): Setting {
  const out: Setting = {};
  if (setting.batchMaxSize !== undefined) out.batchMaxSize = setting.batchMaxSize;
  if (setting.batchMaxLatencyMs !== undefined) out.batchMaxLatencyMs = setting.batchMaxLatencyMs;
  return out;
}
