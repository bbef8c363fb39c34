// `kaskade collect`: the seed's data collection. For each bandwidth level (set on the split
// proxy between A and B, when there is one) it sends N concurrent image requests to half A's
// /predict, K times, and writes one CSV row per answer in the seed's format
// (knative/lab/csv.ts): A's and B's inference times, the total, end_time = seconds from the
// start of the row's batch, the pod counts and the bandwidth level. `kaskade autoscale-lab
// --csv` fits the lab's latency model to it.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { Command } from 'commander';
import { BadInputError, UnavailableError } from '../../functions/_shared/errors.js';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import { formatCollectCsv, parseCollectCsv, type CollectRow } from '../../knative/lab/csv.js';

export interface CollectOptions {
  /** Half A's /predict URL. */
  url: string;
  image: Uint8Array<ArrayBuffer>;
  contentType: string;
  concurrency: number;
  iterations: number;
  /** The split proxy's base URL; with it, each level in `bandwidths` is set before its batches. */
  proxy?: string;
  /** Bandwidth levels (the CSV's BANDWIDTH); the proxy gets level × `unit` bytes/s. */
  bandwidths: number[];
  unit: number;
  podsA: number;
  podsB: number;
  timeoutMs: number;
}

export interface CollectResult {
  rows: CollectRow[];
  failures: string[];
}

interface PredictAnswer {
  inference_time_a?: unknown;
  inference_time_b?: unknown;
  total_time?: unknown;
}

async function setBandwidth(proxy: string, bytesPerSecond: number, timeoutMs: number): Promise<void> {
  const res = await fetchWithTimeout(
    `${proxy.replace(/\/+$/, '')}/settings`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ bandwidth: bytesPerSecond }),
    },
    timeoutMs,
  );
  if (!res.ok)
    throw new UnavailableError(`the proxy refused bandwidth ${bytesPerSecond}: ${res.status} ${await res.text()}`);
}

export async function collect(o: CollectOptions): Promise<CollectResult> {
  if (o.proxy === undefined && o.bandwidths.length > 1)
    throw new BadInputError('--bandwidths with more than one level needs --proxy to set them');
  const rows: CollectRow[] = [];
  const failures: string[] = [];
  for (const level of o.bandwidths) {
    if (o.proxy !== undefined) await setBandwidth(o.proxy, level * o.unit, o.timeoutMs);
    for (let k = 0; k < o.iterations; k++) {
      const start = performance.now();
      const answers = await Promise.all(
        Array.from({ length: o.concurrency }, async () => {
          try {
            const res = await fetchWithTimeout(
              o.url,
              { method: 'POST', headers: { 'content-type': o.contentType }, body: o.image },
              o.timeoutMs,
            );
            const text = await res.text();
            const end = (performance.now() - start) / 1000;
            if (!res.ok) return { failure: `${res.status} ${text.slice(0, 200)}` };
            const a = JSON.parse(text) as PredictAnswer;
            if (
              typeof a.inference_time_a !== 'number' ||
              typeof a.inference_time_b !== 'number' ||
              typeof a.total_time !== 'number'
            )
              return { failure: `not a /predict answer: ${text.slice(0, 200)}` };
            return {
              row: {
                inferenceTimeA: a.inference_time_a,
                inferenceTimeB: a.inference_time_b,
                totalTime: a.total_time,
                endTime: end,
                podsA: o.podsA,
                podsB: o.podsB,
                bandwidth: level,
              },
            };
          } catch (e) {
            return { failure: (e as Error).message };
          }
        }),
      );
      // One batch's rows in answer order, so end_time rises within a batch (batchTimes reads it so).
      const batch: CollectRow[] = [];
      for (const a of answers) {
        if ('row' in a && a.row) batch.push(a.row);
        else if ('failure' in a && a.failure) failures.push(a.failure);
      }
      rows.push(...batch.sort((p, q) => p.endTime - q.endTime));
    }
  }
  return { rows, failures };
}

const IMAGE_TYPES: Record<string, string> = { '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.png': 'image/png' };

function count(name: string, value: string, min = 1): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min)
    throw new BadInputError(`${name} must be a whole number ≥ ${min}, got "${value}"`);
  return n;
}

interface Flags {
  url: string;
  image: string;
  concurrency: string;
  iterations: string;
  proxy?: string;
  bandwidths?: string;
  unit: string;
  podsA: string;
  podsB: string;
  timeout: string;
  out: string;
  append: boolean;
}

export function register(program: Command): void {
  program
    .command('collect')
    .description(
      "send N concurrent images to split-half A's /predict per bandwidth level, K times; write the seed's CSV",
    )
    .requiredOption('--url <url>', "half A's /predict URL")
    .requiredOption('--image <file>', 'a JPEG or PNG to send')
    .option('--concurrency <n>', 'requests at once in a batch', '4')
    .option('--iterations <k>', 'batches per setting', '5')
    .option('--proxy <url>', 'the split proxy between A and B; each bandwidth level is set on it')
    .option('--bandwidths <levels>', 'comma-separated bandwidth levels (needs --proxy for more than one)')
    .option('--unit <bytes/s>', 'bytes/s of one bandwidth level', '1000000')
    .option('--pods-a <n>', 'pods of A in this setting (the NUM_POD_A column)', '1')
    .option('--pods-b <n>', 'pods of B in this setting (the NUM_POD_B column)', '1')
    .option('--timeout <ms>', "one request's limit", '60000')
    .option('--out <file>', 'the CSV to write', 'collect.csv')
    .option('--append', 'add the rows to an existing CSV (one setting of pods at a time)', false)
    .action((flags: Flags) => run(flags));
}

async function run(flags: Flags): Promise<void> {
  const contentType = IMAGE_TYPES[extname(flags.image).toLowerCase()];
  if (contentType === undefined)
    throw new BadInputError(`--image must be a .jpg, .jpeg or .png file, got ${flags.image}`);
  const bandwidths = (flags.bandwidths ?? '0').split(',').map((s) => {
    const v = Number(s.trim());
    if (s.trim() === '' || !Number.isFinite(v) || v < 0)
      throw new BadInputError(`--bandwidths takes numbers ≥ 0, got "${s}"`);
    return v;
  });
  const result = await collect({
    url: flags.url,
    image: new Uint8Array(await readFile(flags.image)),
    contentType,
    concurrency: count('--concurrency', flags.concurrency),
    iterations: count('--iterations', flags.iterations),
    proxy: flags.proxy,
    bandwidths,
    unit: count('--unit', flags.unit),
    podsA: count('--pods-a', flags.podsA),
    podsB: count('--pods-b', flags.podsB),
    timeoutMs: count('--timeout', flags.timeout),
  });
  const before = flags.append && existsSync(flags.out) ? parseCollectCsv(await readFile(flags.out, 'utf8')) : [];
  await writeFile(flags.out, formatCollectCsv([...before, ...result.rows]));
  process.stdout.write(
    `${result.rows.length} rows → ${flags.out}${before.length > 0 ? ` (after ${before.length} earlier rows)` : ''}\n`,
  );
  if (result.failures.length > 0) {
    process.stderr.write(`${result.failures.length} request(s) failed; first: ${result.failures[0]}\n`);
    process.exitCode = 1;
  }
}
