// The kernels Kaskade registers on TF.js's wasm backend so every model it ships can train
// there: gradients the backend lacks, and faster replacements for some it has.
import * as tf from '@tensorflow/tfjs';
import { convolutionKernels } from './convolution.js';
import { gruKernels } from './gru.js';
import { matMulKernels } from './matmul.js';
import { poolingKernels } from './pooling.js';
import { segmentKernels } from './segments.js';

export const WASM_TRAINING_KERNELS: readonly tf.KernelConfig[] = [
  ...convolutionKernels,
  ...gruKernels,
  ...poolingKernels,
  ...segmentKernels,
];

/** Registers (or re-registers over the backend's own) every training kernel; idempotent. */
export function registerWasmTrainingKernels(): void {
  for (const config of [...WASM_TRAINING_KERNELS, ...matMulKernels()]) {
    const existing = tf.getKernel(config.kernelName, config.backendName);
    if (existing?.kernelFunc === config.kernelFunc) continue;
    if (existing !== undefined) tf.unregisterKernel(config.kernelName, config.backendName);
    tf.registerKernel(config);
  }
}
