// What a serving function holds once a model is loaded, whatever runs it: named tensors in,
// named tensors out, with the names, datatypes and shapes the model declares.

/** Element types a served model takes or answers, with their Open Inference Protocol v2 names. */
export const V2_DATATYPES = {
  float32: 'FP32',
  float64: 'FP64',
  int8: 'INT8',
  uint8: 'UINT8',
  int16: 'INT16',
  uint16: 'UINT16',
  int32: 'INT32',
  uint32: 'UINT32',
  int64: 'INT64',
  uint64: 'UINT64',
  bool: 'BOOL',
} as const;

export type TensorDtype = keyof typeof V2_DATATYPES;
export type V2Datatype = (typeof V2_DATATYPES)[TensorDtype];

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A tensor in host memory, row-major. */
export interface HostTensor {
  readonly dtype: TensorDtype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** A model input or output as the model declares it: -1 marks a dynamic dimension. */
export interface TensorInfo {
  readonly name: string;
  readonly dtype: TensorDtype;
  readonly datatype: V2Datatype;
  readonly shape: readonly number[];
}

export type ServingEngineName = 'onnx' | 'tfjs';

/**
 * A loaded model behind a serving engine. One instance is shared by every concurrent
 * request; `run` keeps no state between calls.
 */
export interface RunOptions {
  /**
   * The caller gives up the feeds' arrays and everything else in their buffers: an engine that
   * runs elsewhere (ONNX Runtime on its engine thread) may move each buffer instead of copying it,
   * leaving the caller's arrays, and any other view of those buffers, empty (detached). Never
   * for a slice of a shared pool (a small Node Buffer).
   */
  handOver?: boolean;
}

export interface ServingModel {
  readonly engine: ServingEngineName;
  readonly inputs: readonly TensorInfo[];
  readonly outputs: readonly TensorInfo[];
  /** Runs one batch: a tensor per model input, by name; answers every output, by name. */
  run(feeds: Readonly<Record<string, HostTensor>>, options?: RunOptions): Promise<Record<string, HostTensor>>;
  dispose(): Promise<void>;
}

export function tensorInfo(name: string, dtype: TensorDtype, shape: readonly number[]): TensorInfo {
  return { name, dtype, datatype: V2_DATATYPES[dtype], shape };
}

/** The dtype of a v2 datatype name, or undefined for one Kaskade does not know. */
export function dtypeOfDatatype(datatype: string): TensorDtype | undefined {
  const entry = Object.entries(V2_DATATYPES).find(([, v]) => v === datatype);
  return entry?.[0] as TensorDtype | undefined;
}
