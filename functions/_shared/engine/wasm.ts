// The wasm rung: registers the training kernels TF.js's wasm backend lacks (and faster
// replacements for some it has), then starts the backend, multi-threaded when asked.
import '@tensorflow/tfjs-backend-wasm';
import { availableParallelism } from 'node:os';
import { type Env, envInt } from '../config.js';
import { registerFusedGru } from './gru-layer.js';
import { registerWasmTrainingKernels } from './kernels/index.js';
import { startThreadedWasm } from './wasm-threads.js';

export interface WasmConfig {
  /** XNNPACK threads: KASKADE_WASM_THREADS, default 1 (see README: threads help only on idle cores). */
  threads: number;
}

export function loadWasmConfig(env: Env = process.env): WasmConfig {
  return { threads: envInt(env, 'KASKADE_WASM_THREADS', 1, { min: 1, max: Math.max(8, availableParallelism()) }) };
}

/** Registers the training kernels and the fused GRU layer; safe to call more than once. */
export async function prepareWasm(): Promise<void> {
  registerWasmTrainingKernels();
  registerFusedGru();
  await Promise.resolve();
}

/** Prepares and activates the wasm backend; returns the thread count it runs with. */
export async function startWasm(config: WasmConfig, activate: () => Promise<void>): Promise<number> {
  await prepareWasm();
  return startThreadedWasm(config.threads, activate);
}
