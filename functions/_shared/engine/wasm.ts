// The wasm rung: registers the training kernels TF.js's wasm backend lacks (and faster
// replacements for some it has) before the backend is activated.
import '@tensorflow/tfjs-backend-wasm';
import { registerWasmTrainingKernels } from './kernels/index.js';

export async function prepareWasm(): Promise<void> {
  registerWasmTrainingKernels();
  await Promise.resolve();
}
