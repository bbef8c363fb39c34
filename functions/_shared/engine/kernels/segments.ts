// UnsortedSegmentSum for the wasm backend (the gradient of gather, so of every embedding):
// one pass adding each row of x into the row its segment id names; ids outside
// [0, numSegments) are dropped, as on the CPU backend.
import * as tf from '@tensorflow/tfjs';
import { BackendError } from '../../errors.js';
import { input, numberAttr, wasmBackend } from './wasm-ops.js';

const unsortedSegmentSum: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const [x, ids] = [input(inputs, 'x'), input(inputs, 'segmentIds')];
  const numSegments = numberAttr(attrs, 'numSegments');
  if (x.dtype !== 'float32' && x.dtype !== 'int32')
    throw new BackendError(`UnsortedSegmentSum: unsupported dtype ${x.dtype}`);
  if (ids.dtype !== 'int32') throw new BackendError('UnsortedSegmentSum: segmentIds must be int32');
  if (ids.shape.length !== 1 || ids.shape[0] !== x.shape[0]) {
    throw new BackendError(
      `UnsortedSegmentSum: segmentIds [${ids.shape.join(', ')}] must be one id per row of x [${x.shape.join(', ')}]`,
    );
  }
  const rowShape = x.shape.slice(1);
  const row = tf.util.sizeFromShape(rowShape);
  const out = wasm.makeOutput([numSegments, ...rowShape], x.dtype);
  const xs = wasm.typedArrayFromHeap(x);
  const segs = wasm.typedArrayFromHeap(ids);
  const sums = wasm.typedArrayFromHeap(out);
  sums.fill(0);
  for (let r = 0; r < segs.length; r++) {
    const seg = segs[r] ?? -1;
    if (seg < 0 || seg >= numSegments) continue;
    const from = r * row;
    const to = seg * row;
    for (let k = 0; k < row; k++) sums[to + k] = (sums[to + k] ?? 0) + (xs[from + k] ?? 0);
  }
  return out;
};

export const segmentKernels: readonly tf.KernelConfig[] = [
  { kernelName: tf.UnsortedSegmentSum, backendName: 'wasm', kernelFunc: unsortedSegmentSum },
];
