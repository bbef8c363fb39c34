// MaxPoolGrad for the wasm backend in one pass over the wasm heap: per output window, the
// first maximum (row-major, as the CPU backend picks it) receives the gradient. Replaces the
// backend's own kernel, which rescans every window for every input element.
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';
import { input, padAttr, pairAttr, roundingAttr, shape4, wasmBackend } from './wasm-ops.js';

const maxPoolGrad: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const [dy, x] = [input(inputs, 'dy'), input(inputs, 'input')];
  if (x.dtype !== 'float32' || dy.dtype !== 'float32') throw new BackendError('MaxPoolGrad needs float32 tensors');
  const info = tf.backend_util.computePool2DInfo(
    shape4(x.shape, 'input'),
    pairAttr(attrs, 'filterSize'),
    pairAttr(attrs, 'strides'),
    1,
    padAttr(attrs),
    roundingAttr(attrs),
  );
  const dx = wasm.makeOutput(x.shape, 'float32');
  const xs = wasm.typedArrayFromHeap(x);
  const dys = wasm.typedArrayFromHeap(dy);
  const dxs = wasm.typedArrayFromHeap(dx);
  dxs.fill(0);
  const { batchSize, inHeight, inWidth, inChannels: c, outHeight, outWidth, strideHeight, strideWidth } = info;
  const { filterHeight, filterWidth } = info;
  const top = info.padInfo.top;
  const left = info.padInfo.left;
  const tiled2x2 =
    filterHeight === 2 &&
    filterWidth === 2 &&
    strideHeight === 2 &&
    strideWidth === 2 &&
    top === 0 &&
    left === 0 &&
    outHeight * 2 <= inHeight &&
    outWidth * 2 <= inWidth;
  if (tiled2x2) {
    scatter2x2(xs, dys, dxs, batchSize, inHeight, inWidth, c, outHeight, outWidth);
    return dx;
  }
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    const image = n * inHeight * inWidth * c;
    for (let oy = 0; oy < outHeight; oy++) {
      const y0 = oy * strideHeight - top;
      const yFrom = Math.max(0, y0);
      const yTo = Math.min(inHeight, y0 + filterHeight);
      for (let ox = 0; ox < outWidth; ox++, o += c) {
        const x0 = ox * strideWidth - left;
        const xFrom = Math.max(0, x0);
        const xTo = Math.min(inWidth, x0 + filterWidth);
        for (let ch = 0; ch < c; ch++) {
          let best = -Infinity;
          let at = -1;
          for (let iy = yFrom; iy < yTo; iy++) {
            for (
              let i = image + (iy * inWidth + xFrom) * c + ch, end = image + (iy * inWidth + xTo) * c;
              i < end;
              i += c
            ) {
              const v = xs[i] ?? -Infinity;
              if (v > best) {
                best = v;
                at = i;
              }
            }
          }
          if (at >= 0) dxs[at] = (dxs[at] ?? 0) + (dys[o + ch] ?? 0);
        }
      }
    }
  }
  return dx;
};

/** The 2×2 stride-2 case (most CNNs), unrolled: taps in row-major order, first maximum wins. */
function scatter2x2(
  xs: ArrayLike<number>,
  dys: ArrayLike<number>,
  dxs: Float32Array | Int32Array | Uint8Array,
  batchSize: number,
  inHeight: number,
  inWidth: number,
  c: number,
  outHeight: number,
  outWidth: number,
): void {
  const row = inWidth * c;
  let o = 0;
  for (let n = 0; n < batchSize; n++) {
    const image = n * inHeight * row;
    for (let oy = 0; oy < outHeight; oy++) {
      for (let ox = 0; ox < outWidth; ox++, o += c) {
        const base = image + 2 * oy * row + 2 * ox * c;
        for (let ch = 0; ch < c; ch++) {
          const i = base + ch;
          let at = -1;
          let best = -Infinity;
          let v = xs[i] ?? -Infinity;
          if (v > best) {
            best = v;
            at = i;
          }
          v = xs[i + c] ?? -Infinity;
          if (v > best) {
            best = v;
            at = i + c;
          }
          v = xs[i + row] ?? -Infinity;
          if (v > best) {
            best = v;
            at = i + row;
          }
          v = xs[i + row + c] ?? -Infinity;
          if (v > best) at = i + row + c;
          if (at < 0) continue;
          dxs[at] = (dxs[at] ?? 0) + (dys[o + ch] ?? 0);
        }
      }
    }
  }
}

export const poolingKernels: readonly tf.KernelConfig[] = [
  { kernelName: tf.MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad },
];
