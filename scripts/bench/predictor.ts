// `npm run bench -- predictor [--seconds 5] [--cold-starts 3] [--json]`: the predictor's cold
// start (process start → first successful v2 infer, model load included) and v2 infer latency
// p50/p99 and requests/s with 1 and 8 concurrent clients over loopback. With --json the last
// line is the whole result as JSON.
import { Command } from 'commander';
import { measureColdStart, measureLoad, publishBenchModel, spawnPredictor, waitForFirstInfer, type LoadResult } from '../../functions/predictor/bench.js';

export async function main(argv: string[]): Promise<void> {
  const options = new Command('predictor')
    .option('--seconds <n>', 'measured seconds per concurrency level', '5')
    .option('--cold-starts <n>', 'cold starts to time', '3')
    .option('--clients <list>', 'concurrency levels', '1,8')
    .option('--json', 'print the result as JSON on the last line')
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<{ seconds: string; coldStarts: string; clients: string; json?: boolean }>();
  const seconds = Number(options.seconds);
  const coldStarts = Number(options.coldStarts);
  const levels = options.clients.split(',').map(Number);
  if (!(seconds > 0) || !Number.isInteger(coldStarts) || coldStarts < 0 || levels.some((c) => !Number.isInteger(c) || c < 1)) {
    throw new Error('--seconds must be > 0, --cold-starts an integer ≥ 0, --clients positive integers');
  }

  const model = await publishBenchModel();
  try {
    const cold: number[] = [];
    for (let i = 0; i < coldStarts; i++) {
      cold.push(await measureColdStart(model));
      process.stderr.write(`cold start ${i + 1}/${coldStarts}: ${Math.round(cold[i] ?? NaN)} ms\n`);
    }
    const running = await spawnPredictor(model);
    const load: LoadResult[] = [];
    try {
      await waitForFirstInfer(running.url, performance.now());
      for (const clients of levels) load.push(await measureLoad(running.url, clients, seconds * 1000));
    } finally {
      await running.stop();
    }

    const sorted = [...cold].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    const lines = [
      'predictor: v2 infer, one 28×28 image per request, MNIST CNN (untrained weights), loopback',
      '',
      '| clients | requests | req/s | p50 ms | p99 ms | failures |',
      '|---:|---:|---:|---:|---:|---:|',
      ...load.map((r) => `| ${r.clients} | ${r.requests} | ${r.requestsPerSecond.toFixed(1)} | ${r.p50Ms.toFixed(2)} | ${r.p99Ms.toFixed(2)} | ${r.failures} |`),
      '',
      `cold start (process start → first successful infer, model load included): ${cold.map((c) => `${Math.round(c)} ms`).join(', ') || 'not measured'}${median === undefined ? '' : ` (median ${Math.round(median)} ms)`}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (options.json) {
      process.stdout.write(`${JSON.stringify({ bench: 'predictor', load, coldStartMs: cold, coldStartMedianMs: median ?? null })}\n`);
    }
  } finally {
    await model.cleanup();
  }
}
