// `kaskade split`: lists every cut of a model where exactly one tensor crosses (FLOPs and
// parameters per side, bytes of the crossing tensor), chooses one by FLOP ratio, by the seed's
// stage versions or by a Neurosurgeon latency model, and writes both halves to storage.
import type * as tfjs from '@tensorflow/tfjs';
import type { Command } from 'commander';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { BadInputError } from '../../functions/_shared/errors.js';
import { MODEL_ONNX_FILE } from '../../functions/_shared/serving/export-onnx.js';
import { cutByLatency, listCuts, profileLayers, splitAt, type Cut } from '../../functions/_shared/split/cuts.js';
import { listOnnxCuts, splitOnnx } from '../../functions/_shared/split/onnx-cuts.js';
import { halfFolder, writeSplitFile } from '../../functions/_shared/split/stored.js';
import { createModelHandler } from '../../functions/_shared/store/model-handler.js';
import { loadStoreConfig, openStore } from '../../functions/_shared/store/index.js';
import type { Store } from '../../functions/_shared/store/types.js';
import {
  chooseCut,
  chooseOnnxCut,
  exportable,
  exportHalf,
  isOnnxUri,
  loadWholeModel,
} from '../../functions/split-half/halves.js';

interface Flags {
  model: string;
  list: boolean;
  cut: string;
  latency: boolean;
  bandwidth: string;
  out?: string;
  seed: string;
}

export function register(program: Command): void {
  program
    .command('split')
    .description('list the cuts of a model where one tensor crosses; choose one and write both halves')
    .option(
      '--model <uri>',
      'resnet50, resnet-small, a file:// / gs:// TF.js layers model folder, or a file:// / gs:// .onnx model',
      'resnet50',
    )
    .option('--list', 'print every cut with FLOPs and parameters per side and the crossing bytes', false)
    .option('--cut <spec>', 'v1 | v2 | v3 (after stage 3/2/1) | balanced | ratio:<f> | a layer name', 'v2')
    .option(
      '--latency',
      'choose by a latency model instead: per-layer time measured here, plus bytes / --bandwidth',
      false,
    )
    .option('--bandwidth <bytes/s>', 'link between the halves for --latency', String(125_000_000))
    .option(
      '--out <url>',
      'write the halves to <url>/front and <url>/back and the cut to <url>/split.json (file:// or gs://); HALF_URI=<url> serves them',
    )
    .option('--seed <n>', "seed of the built-in models' weights", '7')
    .action((flags: Flags) => split(flags));
}

const g = (flops: number): string => (flops / 1e9).toFixed(3);
const m = (params: number): string => (params / 1e6).toFixed(2);

/** The table `--list` prints: one row a cut. */
export function formatCuts(cuts: readonly Cut[]): string {
  const rows = cuts.map((c) => {
    const share = (100 * c.flopsFront) / (c.flopsFront + c.flopsBack);
    return `| ${c.layer.padEnd(22)} | ${c.shape.join('×').padEnd(12)} | ${String(c.bytes).padStart(9)} | ${g(c.flopsFront).padStart(7)} | ${g(c.flopsBack).padStart(7)} | ${share.toFixed(1).padStart(6)} % | ${m(c.paramsFront).padStart(6)} | ${m(c.paramsBack).padStart(6)} |`;
  });
  return [
    '| cut after              | tensor       | bytes     | GFLOP A | GFLOP B | A share  | M par A | M par B |',
    '|------------------------|--------------|-----------|---------|---------|----------|--------|--------|',
    ...rows,
  ].join('\n');
}

async function splitOnnxModel(flags: Flags): Promise<void> {
  if (flags.latency)
    throw new BadInputError('--latency times TF.js layers one by one; for an ONNX model choose with --cut');
  const store = openStore(loadStoreConfig());
  const bytes = await store.read(flags.model);
  const { cuts } = await listOnnxCuts(bytes, flags.model);
  if (flags.list)
    process.stdout.write(
      `${cuts.length} cuts of ${flags.model} where one tensor crosses (batch 1, float32; ONNX tensor names):\n${formatCuts(cuts)}\n`,
    );
  const cut = chooseOnnxCut(cuts, flags.cut);
  process.stdout.write(`cut ${flags.cut}: after ${cut.layer} (${cut.shape.join('×')}, ${cut.bytes} bytes)\n`);
  if (flags.out) {
    const written = await writeOnnxHalves(bytes, cut, flags.model, store, flags.out);
    process.stdout.write(
      `halves written: ${written.front} and ${written.back}; serve them with HALF_URI=${flags.out}\n`,
    );
  }
}

/** Writes the two halves of an ONNX model as `<out>/front/model.onnx`, `<out>/back/model.onnx` and the cut. */
export async function writeOnnxHalves(
  bytes: Uint8Array,
  cut: Cut,
  model: string,
  store: Store,
  out: string,
): Promise<{ front: string; back: string }> {
  const { front, back } = splitOnnx(bytes, cut, model);
  const urls = { front: halfFolder(out, 'A'), back: halfFolder(out, 'B') };
  await store.write(`${urls.front}${MODEL_ONNX_FILE}`, front);
  await store.write(`${urls.back}${MODEL_ONNX_FILE}`, back);
  await writeSplitFile(store, out, { model, cut, forms: { onnx: true, tfjs: false } });
  return urls;
}

async function split(flags: Flags): Promise<void> {
  if (isOnnxUri(flags.model)) return splitOnnxModel(flags);
  const { tf } = await initEngine();
  const model = await loadWholeModel(tf, { model: flags.model, seed: Number(flags.seed) });
  const cuts = listCuts(model);
  if (flags.list)
    process.stdout.write(
      `${cuts.length} cuts of ${flags.model} where one tensor crosses (batch 1, float32):\n${formatCuts(cuts)}\n`,
    );
  let cut: Cut;
  if (flags.latency) {
    const bandwidth = Number(flags.bandwidth);
    if (!(bandwidth > 0)) throw new BadInputError(`--bandwidth is bytes/s > 0, not "${flags.bandwidth}"`);
    const here = await profileLayers(tf, model);
    const chosen = cutByLatency(model, cuts, { front: here, back: here }, bandwidth);
    cut = chosen.cut;
    process.stdout.write(
      `latency model (both halves timed on this machine, ${bandwidth} bytes/s): ${cut.layer}, predicted ${chosen.predictedMs.toFixed(1)} ms\n`,
    );
  } else {
    cut = chooseCut(model, flags.cut);
    process.stdout.write(`cut ${flags.cut}: after ${cut.layer} (${cut.shape.join('×')}, ${cut.bytes} bytes)\n`);
  }
  if (flags.out) {
    const written = await writeHalves(tf, model, cut.layer, openStore(loadStoreConfig()), flags.out, flags.model);
    process.stdout.write(
      `halves written: ${written.front} and ${written.back}; serve them with HALF_URI=${flags.out}\n`,
    );
  }
}

/**
 * Cuts `model` at `layer` and saves each half under `<out>/front/` and `<out>/back/` as a TF.js
 * layers model and, when every layer exports, as `model.onnx` (channels-first at the cut, as the
 * services run it), with the
 * cut in `<out>/split.json`.
 */
export async function writeHalves(
  tf: typeof tfjs,
  model: tfjs.LayersModel,
  layer: string,
  store: Store,
  out: string,
  source = model.name,
): Promise<{ front: string; back: string }> {
  const { front, back, cut } = splitAt(tf, model, layer);
  const urls = { front: halfFolder(out, 'A'), back: halfFolder(out, 'B') };
  await front.save(createModelHandler(store, urls.front));
  await back.save(createModelHandler(store, urls.back));
  // A layer the exporter cannot write leaves the halves TF.js only (served on TF.js).
  const onnx = exportable(front) && exportable(back);
  if (onnx) {
    await store.write(`${urls.front}${MODEL_ONNX_FILE}`, exportHalf(front, 'A'));
    await store.write(`${urls.back}${MODEL_ONNX_FILE}`, exportHalf(back, 'B'));
  }
  await writeSplitFile(store, out, { model: source, cut, forms: { onnx, tfjs: true } });
  return urls;
}
