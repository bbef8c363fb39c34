// Aggregating client weights, as pure functions over plain data (no TF.js).
//
// - federatedAverage: FedAvg (McMahan et al. 2017): w = Σ n_k·w_k / Σ n_k, element by element,
//   each client weighted by its example count n_k. Sums run in float64 so the result does not
//   depend on client order beyond float32 rounding of the final value.
// - median: the element-wise median of the clients' values (Flower's FedMedian; counts are not
//   used). With an even number of clients, the mean of the two middle values.
// - trimmedMean: per element, drop the floor(β·K) smallest and largest of the K values and
//   average the rest (Flower's FedTrimmedAvg; unweighted; 0 ≤ β < 0.5).
//
// Every input is validated first: at least one client, the same tensor names everywhere, the
// same shape and dtype per name, data length = ∏ shape, finite positive counts. Anything else
// is a BadInputError naming the client and tensor. int32 tensors are averaged and rounded.
import { BadInputError } from '../errors.js';

export interface WeightTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array | Int32Array;
}

/** Named tensors of one model, e.g. from a safetensors file. */
export type WeightSet = Readonly<Record<string, WeightTensor>>;

export interface ClientUpdate {
  readonly weights: WeightSet;
  /** Number of training examples behind these weights (> 0). */
  readonly count: number;
}

function dtypeOf(t: WeightTensor): 'float32' | 'int32' {
  return t.data instanceof Float32Array ? 'float32' : 'int32';
}

function allFinite(data: Float32Array | Int32Array): boolean {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return false;
  return true;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Checks the clients agree; returns the tensor names in the first client's order. */
export function validateUpdates(updates: readonly ClientUpdate[], needCounts = true): string[] {
  const first = updates[0];
  if (!first) throw new BadInputError('no client updates to aggregate');
  const names = Object.keys(first.weights);
  if (names.length === 0) throw new BadInputError('client 0 has no tensors');
  updates.forEach((update, k) => {
    if (needCounts && !(Number.isFinite(update.count) && update.count > 0)) {
      throw new BadInputError(`client ${k}: example count must be a positive number, got ${update.count}`);
    }
    const own = Object.keys(update.weights);
    const missing = names.filter((n) => !Object.hasOwn(update.weights, n));
    const extra = own.filter((n) => !Object.hasOwn(first.weights, n));
    if (missing.length > 0 || extra.length > 0) {
      throw new BadInputError(
        `client ${k}: tensor names differ from client 0 (missing: [${missing.join(', ')}], extra: [${extra.join(', ')}])`,
      );
    }
    for (const name of names) {
      const t = update.weights[name];
      const ref = first.weights[name];
      if (!t || !ref) throw new BadInputError(`client ${k}: tensor "${name}" is missing`);
      const size = t.shape.reduce((a, b) => a * b, 1);
      if (!t.shape.every((d) => Number.isInteger(d) && d >= 0) || size !== t.data.length) {
        throw new BadInputError(
          `client ${k}: tensor "${name}" has shape [${t.shape.join(', ')}] but ${t.data.length} values`,
        );
      }
      if (!sameShape(t.shape, ref.shape)) {
        throw new BadInputError(
          `client ${k}: tensor "${name}" has shape [${t.shape.join(', ')}], client 0 has [${ref.shape.join(', ')}]`,
        );
      }
      if (dtypeOf(t) !== dtypeOf(ref)) {
        throw new BadInputError(`client ${k}: tensor "${name}" is ${dtypeOf(t)}, client 0 has ${dtypeOf(ref)}`);
      }
      if (!allFinite(t.data)) throw new BadInputError(`client ${k}: tensor "${name}" has non-finite values`);
    }
  });
  return names;
}

function output(ref: WeightTensor, values: Float64Array): WeightTensor {
  if (ref.data instanceof Float32Array) return { shape: [...ref.shape], data: Float32Array.from(values) };
  return { shape: [...ref.shape], data: Int32Array.from(values, Math.round) };
}

function tensorsOf(updates: readonly ClientUpdate[], name: string): WeightTensor[] {
  return updates.map((u, k) => {
    const t = u.weights[name];
    if (!t) throw new BadInputError(`client ${k}: tensor "${name}" is missing`);
    return t;
  });
}

export function federatedAverage(updates: readonly ClientUpdate[]): Record<string, WeightTensor> {
  const names = validateUpdates(updates);
  const total = updates.reduce((sum, u) => sum + u.count, 0);
  const result: Record<string, WeightTensor> = {};
  for (const name of names) {
    const tensors = tensorsOf(updates, name);
    const [ref] = tensors;
    if (!ref) throw new BadInputError('no client updates to aggregate');
    const acc = new Float64Array(ref.data.length);
    tensors.forEach((t, k) => {
      const w = (updates[k]?.count ?? 0) / total;
      const data = t.data;
      for (let i = 0; i < acc.length; i++) acc[i] = (acc[i] ?? 0) + w * (data[i] ?? 0);
    });
    result[name] = output(ref, acc);
  }
  return result;
}

/** Applies `reduce` to the sorted values of each element across clients. */
function elementwise(
  updates: readonly ClientUpdate[],
  reduce: (sorted: Float64Array) => number,
): Record<string, WeightTensor> {
  const names = validateUpdates(updates, false);
  const result: Record<string, WeightTensor> = {};
  const column = new Float64Array(updates.length);
  for (const name of names) {
    const tensors = tensorsOf(updates, name);
    const [ref] = tensors;
    if (!ref) throw new BadInputError('no client updates to aggregate');
    const out = new Float64Array(ref.data.length);
    for (let i = 0; i < out.length; i++) {
      for (let k = 0; k < tensors.length; k++) column[k] = tensors[k]?.data[i] ?? 0;
      column.sort();
      out[i] = reduce(column);
    }
    result[name] = output(ref, out);
  }
  return result;
}

export function median(updates: readonly ClientUpdate[]): Record<string, WeightTensor> {
  return elementwise(updates, (sorted) => {
    const mid = sorted.length >> 1;
    return sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  });
}

export function trimmedMean(updates: readonly ClientUpdate[], beta = 0.2): Record<string, WeightTensor> {
  if (!(beta >= 0 && beta < 0.5)) throw new BadInputError(`trimmed mean β must be in [0, 0.5), got ${beta}`);
  const cut = Math.floor(beta * updates.length);
  return elementwise(updates, (sorted) => {
    let sum = 0;
    for (let i = cut; i < sorted.length - cut; i++) sum += sorted[i] ?? 0;
    return sum / (sorted.length - 2 * cut);
  });
}
