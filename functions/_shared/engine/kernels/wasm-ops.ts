// Helpers for kernels registered on the wasm backend: run the backend's own (XNNPACK) kernels on
// TensorInfos, reshape without copying, and free intermediates so nothing outlives a kernel call.
import * as tf from '@tensorflow/tfjs';
import { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../../errors.js';

export type TensorInfo = tf.TensorInfo;
export type Attrs = tf.NamedAttrMap;
export type Pair = [number, number];

/** The kernel's backend as the wasm backend; anything else is a registration mistake. */
export function wasmBackend(backend: unknown): BackendWasm {
  if (!(backend instanceof BackendWasm)) {
    throw new BackendError('a wasm training kernel ran on a backend that is not wasm');
  }
  return backend;
}

/** Runs one of the wasm backend's registered kernels directly (no tape, no engine tracking). */
export function runWasmKernel(
  backend: BackendWasm,
  kernelName: string,
  inputs: tf.NamedTensorInfoMap,
  attrs: Attrs = {},
): TensorInfo {
  const kernel = tf.getKernel(kernelName, 'wasm');
  if (kernel === undefined) throw new BackendError(`wasm kernel ${kernelName} is not registered`);
  const out = kernel.kernelFunc({ inputs, attrs, backend });
  if (Array.isArray(out)) throw new BackendError(`wasm kernel ${kernelName} returned several outputs`);
  return out;
}

/** The same data seen with another shape (row-major sizes must agree); never freed on its own. */
export function reshaped(info: TensorInfo, shape: number[]): TensorInfo {
  return { dataId: info.dataId, shape, dtype: info.dtype };
}

/** Frees an intermediate created inside a kernel. */
export function release(backend: BackendWasm, ...infos: TensorInfo[]): void {
  for (const info of infos) backend.disposeData(info.dataId);
}

export function transpose(backend: BackendWasm, x: TensorInfo, perm: number[]): TensorInfo {
  return runWasmKernel(backend, 'Transpose', { x }, { perm });
}

export function pair(value: number | number[], name: string): Pair {
  if (typeof value === 'number') return [value, value];
  const [a, b] = value;
  if (a === undefined || b === undefined || value.length !== 2) {
    throw new BackendError(`${name} must be a number or two numbers, got [${value.join(', ')}]`);
  }
  return [a, b];
}

/** Reads a numeric-or-pair attribute. */
export function pairAttr(attrs: Attrs, name: string, fallback?: number): Pair {
  const value = attrs[name] ?? fallback;
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.every((v): v is number => typeof v === 'number')) return pair(value, name);
  throw new BackendError(`attribute ${name} must be a number or two numbers`);
}

export function numberListAttr(attrs: Attrs, name: string): number[] {
  const value = attrs[name];
  if (Array.isArray(value) && value.every((v): v is number => typeof v === 'number')) return value;
  throw new BackendError(`attribute ${name} must be a list of numbers`);
}

export type ExplicitPadding = tf.backend_util.ExplicitPadding;
export type PadAttr = 'valid' | 'same' | number | ExplicitPadding;

export function padAttr(attrs: Attrs): PadAttr {
  const pad = attrs.pad;
  if (typeof pad === 'number') return pad;
  const named = pick(pad, ['valid', 'same'] as const);
  if (named !== undefined) return named;
  if (isExplicitPadding(pad)) return pad;
  throw new BackendError('attribute pad must be valid, same, a number or explicit paddings');
}

/** The option equal to `value`, if any. */
function pick<T extends string>(value: unknown, options: readonly T[]): T | undefined {
  return options.find((option) => option === value);
}

function isExplicitPadding(value: unknown): value is ExplicitPadding {
  return (
    Array.isArray(value) &&
    value.length === 4 &&
    value.every((p) => Array.isArray(p) && p.length === 2 && p.every((n) => typeof n === 'number'))
  );
}

export function roundingAttr(attrs: Attrs): 'floor' | 'round' | 'ceil' | undefined {
  const mode = attrs.dimRoundingMode;
  if (mode === undefined || mode === null) return undefined;
  const known = pick(mode, ['floor', 'round', 'ceil'] as const);
  if (known !== undefined) return known;
  throw new BackendError('attribute dimRoundingMode must be floor, round or ceil');
}

export function dataFormatAttr(attrs: Attrs): 'NHWC' | 'NCHW' {
  const known = pick(attrs.dataFormat ?? 'NHWC', ['NHWC', 'NCHW'] as const);
  if (known !== undefined) return known;
  throw new BackendError('attribute dataFormat must be NHWC or NCHW');
}

export function shape4(shape: readonly number[], name: string): [number, number, number, number] {
  const [a, b, c, d] = shape;
  if (shape.length !== 4 || a === undefined || b === undefined || c === undefined || d === undefined) {
    throw new BackendError(`${name} must be rank 4, got shape [${shape.join(', ')}]`);
  }
  return [a, b, c, d];
}

export function input(inputs: tf.NamedTensorInfoMap, name: string): TensorInfo {
  const info = inputs[name];
  if (info === undefined) throw new BackendError(`kernel input ${name} is missing`);
  return info;
}

export function shape4Attr(attrs: Attrs, name: string): [number, number, number, number] {
  return shape4(numberListAttr(attrs, name), name);
}

export function numberAttr(attrs: Attrs, name: string): number {
  const value = attrs[name];
  if (typeof value === 'number') return value;
  throw new BackendError(`attribute ${name} must be a number`);
}
