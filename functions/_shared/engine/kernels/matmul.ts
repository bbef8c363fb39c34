// BatchMatMul on the wasm backend when an operand is transposed. The backend's own kernel takes
// XNNPACK's path only for plain products and a scalar loop whenever transposeA or transposeB is
// set, which every matrix-product gradient does (dA = dy·Bᵀ, dB = Aᵀ·dy): 8–13× slower measured
// here. Transposing the operand first with XNNPACK's transpose costs one pass over it.
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';
import { input, release, transpose, wasmBackend } from './wasm-ops.js';

/** The backend's own BatchMatMul, kept when ours replaces it (process-wide, like the registry). */
let plainBatchMatMul: tf.KernelFunc | undefined;

/** The permutation that swaps the last two axes. */
function swapLastTwo(rank: number): number[] {
  const perm = Array.from({ length: rank }, (_, i) => i);
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  return perm;
}

const batchMatMul: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  if (plainBatchMatMul === undefined) throw new BackendError('BatchMatMul: the wasm backend kernel was not found');
  const [transposeA, transposeB] = [attrs.transposeA === true, attrs.transposeB === true];
  if (!transposeA && !transposeB) return plainBatchMatMul({ inputs, backend, attrs });
  const wasm = wasmBackend(backend);
  const [a, b] = [input(inputs, 'a'), input(inputs, 'b')];
  const temporaries: tf.TensorInfo[] = [];
  const plain = (info: tf.TensorInfo, transposed: boolean): tf.TensorInfo => {
    if (!transposed) return info;
    const out = transpose(wasm, info, swapLastTwo(info.shape.length));
    temporaries.push(out);
    return out;
  };
  try {
    return plainBatchMatMul({
      inputs: { a: plain(a, transposeA), b: plain(b, transposeB) },
      backend,
      attrs: { ...attrs, transposeA: false, transposeB: false },
    });
  } finally {
    release(wasm, ...temporaries);
  }
};

/**
 * Our BatchMatMul in place of the backend's, keeping the backend's setup (it binds the XNNPACK
 * call when the backend starts); none when the wasm backend's own kernel is not registered.
 */
export function matMulKernels(): tf.KernelConfig[] {
  const existing = tf.getKernel(tf.BatchMatMul, 'wasm');
  if (existing === undefined) return [];
  if (existing.kernelFunc !== batchMatMul) plainBatchMatMul = existing.kernelFunc;
  const config: tf.KernelConfig = { kernelName: tf.BatchMatMul, backendName: 'wasm', kernelFunc: batchMatMul };
  return [existing.setupFunc === undefined ? config : { ...config, setupFunc: existing.setupFunc }];
}
