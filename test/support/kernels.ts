// Test support for wasm kernels: run one kernel on the CPU and wasm backends with the same
// random inputs, compare, and count what a call leaves behind.
import * as tf from '@tensorflow/tfjs';
import { prepareWasm } from '../../functions/_shared/engine/wasm.js';

export interface KernelCall {
  kernel: string;
  inputs: Record<string, { shape: number[]; dtype?: 'float32' | 'int32'; values?: Float32Array | Int32Array }>;
  attrs: tf.NamedAttrMap;
}

export async function useWasm(): Promise<void> {
  await prepareWasm();
  if (!(await tf.setBackend('wasm'))) throw new Error('wasm backend did not load');
}

/** Uniform values in [-1, 1) from a seed, identical on every backend. */
export function randomValues(shape: number[], seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const out = new Float32Array(tf.util.sizeFromShape(shape));
  for (let i = 0; i < out.length; i++) {
    // xorshift32
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = ((state >>> 0) / 0x100000000) * 2 - 1;
  }
  return out;
}

/** Runs the kernel on `backend`; returns the output values and shape. */
export async function runOn(
  backend: 'cpu' | 'wasm',
  call: KernelCall,
  seed = 7,
): Promise<{ values: Float32Array | Int32Array; shape: number[] }> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return tf.tidy(() => {
      const inputs: Record<string, tf.Tensor> = {};
      let s = seed;
      for (const [name, spec] of Object.entries(call.inputs)) {
        const values = spec.values ?? randomValues(spec.shape, s++);
        inputs[name] = tf.tensor(values, spec.shape, spec.dtype ?? 'float32');
      }
      const out = tf.engine().runKernel(call.kernel, inputs, call.attrs);
      const tensor = Array.isArray(out) ? out[0] : out;
      if (!(tensor instanceof tf.Tensor)) throw new Error(`${call.kernel} returned no tensor`);
      return { values: tensor.dataSync<'float32' | 'int32'>(), shape: tensor.shape };
    });
  } finally {
    await tf.setBackend(previous);
  }
}

/** max |a − b| / max |b| (normwise relative error); 0 when both are all zeros. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    const e = expected[i] ?? 0;
    diff = Math.max(diff, Math.abs((actual[i] ?? NaN) - e));
    scale = Math.max(scale, Math.abs(e));
  }
  if (Number.isNaN(diff)) return Infinity;
  return scale === 0 ? diff : diff / scale;
}

/** Tensors (engine) and buffers (wasm backend) alive now. */
export function liveCounts(): { tensors: number; buffers: number } {
  return { tensors: tf.memory().numTensors, buffers: tf.engine().backend.numDataIds() };
}
