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
  const best = new Float32Array(c);
  const where = new Int32Array(c);
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
        best.fill(-Infinity);
        where.fill(-1);
        for (let iy = yFrom; iy < yTo; iy++) {
          for (let ix = xFrom; ix < xTo; ix++) {
            const base = image + (iy * inWidth + ix) * c;
            for (let ch = 0; ch < c; ch++) {
              const v = xs[base + ch] ?? -Infinity;
              if (v > (best[ch] ?? Infinity)) {
                best[ch] = v;
                where[ch] = base + ch;
              }
            }
          }
        }
        for (let ch = 0; ch < c; ch++) {
          const at = where[ch] ?? -1;
          if (at >= 0) dxs[at] = (dxs[at] ?? 0) + (dys[o + ch] ?? 0);
        }
      }
    }
  }
  return dx;
};

export const poolingKernels: readonly tf.KernelConfig[] = [
  { kernelName: tf.MaxPoolGrad, backendName: 'wasm', kernelFunc: maxPoolGrad },
];
