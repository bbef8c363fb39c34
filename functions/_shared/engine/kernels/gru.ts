// A whole GRU sequence as two wasm kernels, forward and backward (Keras GRU with
// reset_after=false, TF.js's only form: z and r from x·W + b + h·R[:, :2U], the candidate from
// x·W_h + b_h + (r∘h)·R_h). TF.js runs a GRU as ~15 ops per step and its gradient as ~40 more,
// each a dispatch with its own allocations, and its matrix-product gradients on the backend's
// scalar path; here a step is one or two XNNPACK products against weights that stay put (so
// XNNPACK packs them once per sequence) and one pass over the gates in between.
//
// Layout is batch-major, as the layer sees it: `proj` = x·W + b is [B, T, 3U] (z | r | h
// columns), every per-step record [B, T, U]. With goBackwards the kernels walk the steps from
// last to first: the output sequence is in the order processed (as Keras's), every record and
// the gate gradient in the input's order, so the caller never reverses a sequence. The forward
// keeps what the backward needs: h_{t-1}, the gate pre-activations, the candidate and r∘h_{t-1}.
import * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../../errors.js';
import { input, release, runWasmKernel, type TensorInfo, wasmBackend } from './wasm-ops.js';

export const GRU_SEQUENCE = 'KaskadeGruSequence';
export const GRU_SEQUENCE_GRAD = 'KaskadeGruSequenceGrad';

/** The gate activations the kernels know (TF.js's default and Keras's). */
export const GRU_GATE_ACTIVATIONS = ['hardSigmoid', 'sigmoid'] as const;
export type GruGateActivation = (typeof GRU_GATE_ACTIVATIONS)[number];

interface Gate {
  value: (pre: number) => number;
  /** Derivative at `pre`, given value = value(pre); matches TF.js's gradient of the same op. */
  slope: (pre: number, value: number) => number;
}

const GATES: Record<GruGateActivation, Gate> = {
  // TF.js: clipByValue(0.5 + 0.2x, 0, 1); the clip passes the gradient where 0 ≤ y ≤ 1.
  hardSigmoid: {
    value: (pre) => Math.min(1, Math.max(0, 0.5 + 0.2 * pre)),
    slope: (pre) => {
      const y = 0.5 + 0.2 * pre;
      return y >= 0 && y <= 1 ? 0.2 : 0;
    },
  },
  sigmoid: { value: (pre) => 1 / (1 + Math.exp(-pre)), slope: (_pre, value) => value * (1 - value) },
};

/**
 * Gradients below this magnitude are flushed to zero. Through 500 steps the gradient of an
 * early step vanishes geometrically and passes through float32's denormal range, where x86 runs
 * wasm's arithmetic (which must keep denormals) in microcode: a product over 5% denormal rows
 * took 6.5× as long, measured here. Flushing at 1e-30 keeps every later product clear of that
 * range; it changes no gradient by more than 1e-30.
 */
const FLUSH_BELOW = 1e-30;

function flushed(v: number): number {
  return v < FLUSH_BELOW && v > -FLUSH_BELOW ? 0 : v;
}

/** Input position of processing step t. */
function stepOrder(attrs: tf.NamedAttrMap, steps: number): (t: number) => number {
  return attrs.goBackwards === true ? (t) => steps - 1 - t : (t) => t;
}

function gateAttr(attrs: tf.NamedAttrMap): Gate {
  const name = GRU_GATE_ACTIVATIONS.find((a) => a === attrs.recurrentActivation);
  if (name === undefined)
    throw new BackendError(`GRU kernels: recurrentActivation must be one of ${GRU_GATE_ACTIVATIONS.join(', ')}`);
  return GATES[name];
}

interface Dims {
  batch: number;
  steps: number;
  units: number;
}

function sequenceDims(proj: TensorInfo, recurrentZr: TensorInfo, recurrentH: TensorInfo): Dims {
  const [batch, steps, width] = proj.shape;
  const units = recurrentH.shape[0];
  if (
    proj.shape.length !== 3 ||
    batch === undefined ||
    steps === undefined ||
    width === undefined ||
    units === undefined
  ) {
    throw new BackendError(`GRU kernels: proj must be [batch, steps, 3·units], got [${proj.shape.join(', ')}]`);
  }
  const square = recurrentH.shape.length === 2 && recurrentH.shape[1] === units;
  const zr = recurrentZr.shape.length === 2 && recurrentZr.shape[0] === units && recurrentZr.shape[1] === 2 * units;
  if (!square || !zr || width !== 3 * units || steps < 1) {
    throw new BackendError(
      `GRU kernels: shapes disagree (proj [${proj.shape.join(', ')}], R_zr [${recurrentZr.shape.join(', ')}], R_h [${recurrentH.shape.join(', ')}])`,
    );
  }
  return { batch, steps, units };
}

function float32(...infos: TensorInfo[]): void {
  for (const info of infos)
    if (info.dtype !== 'float32') throw new BackendError(`GRU kernels: float32 only, got ${info.dtype}`);
}

/** out = a · b on XNNPACK; the caller releases it. `b` is the same weight tensor every step. */
function product(backend: BackendWasm, a: TensorInfo, b: TensorInfo): TensorInfo {
  return runWasmKernel(backend, tf.BatchMatMul, { a, b }, { transposeA: false, transposeB: false });
}

/** Zero-filled [rows, cols] scratch tensor. */
function scratch(backend: BackendWasm, rows: number, cols: number): TensorInfo {
  const out = backend.makeOutput([rows, cols], 'float32');
  backend.typedArrayFromHeap(out).fill(0);
  return out;
}

/**
 * Forward: inputs proj [B, T, 3U], recurrentZr [U, 2U], recurrentH [U, U]; attrs
 * recurrentActivation, goBackwards. Outputs h [B, T, U] (the sequence, in the order processed),
 * then for the backward, by input position: h_{t-1}, z and r pre-activations, the candidate h̃,
 * and r∘h_{t-1}, each [B, T, U].
 */
const gruSequence: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const [proj, recurrentZr, recurrentH] = [
    input(inputs, 'proj'),
    input(inputs, 'recurrentZr'),
    input(inputs, 'recurrentH'),
  ];
  float32(proj, recurrentZr, recurrentH);
  const gate = gateAttr(attrs);
  const { batch: B, steps: T, units: U } = sequenceDims(proj, recurrentZr, recurrentH);
  const record = (): TensorInfo => wasm.makeOutput([B, T, U], 'float32');
  const at = stepOrder(attrs, T);
  const outputs = {
    h: record(),
    previous: record(),
    zPre: record(),
    rPre: record(),
    candidate: record(),
    resetH: record(),
  };
  const state = scratch(wasm, B, U);
  const reset = scratch(wasm, B, U);
  const heap = (info: TensorInfo) => wasm.typedArrayFromHeap(info);
  for (let t = 0; t < T; t++) {
    const zrPart = product(wasm, state, recurrentZr);
    {
      const [p, m, h, rh] = [heap(proj), heap(zrPart), heap(state), heap(reset)];
      const [previous, zPre, rPre, resetH] = [
        heap(outputs.previous),
        heap(outputs.zPre),
        heap(outputs.rPre),
        heap(outputs.resetH),
      ];
      for (let b = 0; b < B; b++) {
        const row = (b * T + at(t)) * 3 * U;
        const rec = (b * T + at(t)) * U;
        for (let j = 0; j < U; j++) {
          const zp = (p[row + j] ?? 0) + (m[b * 2 * U + j] ?? 0);
          const rp = (p[row + U + j] ?? 0) + (m[b * 2 * U + U + j] ?? 0);
          const hPrev = h[b * U + j] ?? 0;
          const v = gate.value(rp) * hPrev;
          previous[rec + j] = hPrev;
          zPre[rec + j] = zp;
          rPre[rec + j] = rp;
          rh[b * U + j] = v;
          resetH[rec + j] = v;
        }
      }
    }
    release(wasm, zrPart);
    const hPart = product(wasm, reset, recurrentH);
    {
      const [p, m, h] = [heap(proj), heap(hPart), heap(state)];
      const [zPre, candidate, seq] = [heap(outputs.zPre), heap(outputs.candidate), heap(outputs.h)];
      for (let b = 0; b < B; b++) {
        const row = (b * T + at(t)) * 3 * U;
        const rec = (b * T + at(t)) * U;
        for (let j = 0; j < U; j++) {
          const hh = Math.tanh((p[row + 2 * U + j] ?? 0) + (m[b * U + j] ?? 0));
          const z = gate.value(zPre[rec + j] ?? 0);
          const next = z * (h[b * U + j] ?? 0) + (1 - z) * hh;
          candidate[rec + j] = hh;
          seq[(b * T + t) * U + j] = next;
          h[b * U + j] = next;
        }
      }
    }
    release(wasm, hPart);
  }
  release(wasm, state, reset);
  return [outputs.h, outputs.previous, outputs.zPre, outputs.rPre, outputs.candidate, outputs.resetH];
};

/**
 * Backward: inputs dh [B, T, U] (the loss's gradient for every output step, in the order
 * processed), the forward's previous, zPre, rPre and candidate, and the recurrent weights
 * transposed: recurrentZrT [2U, U], recurrentHT [U, U]; the forward's attrs. Outputs the gradient
 * of the gate pre-activations by input position, [B, T, 3U] in proj's column order, and the same
 * split as [B, T, 2U] (z | r) and [B, T, U] (candidate): the caller gets every weight and input
 * gradient from these with one matrix product each.
 */
const gruSequenceGrad: tf.KernelFunc = ({ inputs, backend, attrs = {} }) => {
  const wasm = wasmBackend(backend);
  const [dh, h, zPre, rPre, candidate] = [
    input(inputs, 'dh'),
    input(inputs, 'previous'),
    input(inputs, 'zPre'),
    input(inputs, 'rPre'),
    input(inputs, 'candidate'),
  ];
  const [recurrentZrT, recurrentHT] = [input(inputs, 'recurrentZrT'), input(inputs, 'recurrentHT')];
  float32(dh, h, zPre, rPre, candidate, recurrentZrT, recurrentHT);
  const gate = gateAttr(attrs);
  const [B, T, U] = h.shape;
  const sameShape = (info: TensorInfo) => info.shape.length === 3 && info.shape.every((d, i) => d === h.shape[i]);
  if (B === undefined || T === undefined || U === undefined || ![dh, zPre, rPre, candidate].every(sameShape)) {
    throw new BackendError('GRU gradient kernel: dh and the forward records must all be [batch, steps, units]');
  }
  if (
    recurrentZrT.shape[0] !== 2 * U ||
    recurrentZrT.shape[1] !== U ||
    recurrentHT.shape[0] !== U ||
    recurrentHT.shape[1] !== U
  ) {
    throw new BackendError('GRU gradient kernel: recurrent weights must be [2U, U] and [U, U] (transposed)');
  }
  const at = stepOrder(attrs, T);
  const dGates = wasm.makeOutput([B, T, 3 * U], 'float32');
  const dGatesZr = wasm.makeOutput([B, T, 2 * U], 'float32');
  const dGatesH = wasm.makeOutput([B, T, U], 'float32');
  const carried = scratch(wasm, B, U); // dLoss/dh_t from the steps after t
  const dCandidate = scratch(wasm, B, U);
  const dZr = scratch(wasm, B, 2 * U);
  const heap = (info: TensorInfo) => wasm.typedArrayFromHeap(info);
  for (let t = T - 1; t >= 0; t--) {
    {
      const [g, hs, zp, hhs, carry, da] = [
        heap(dh),
        heap(h),
        heap(zPre),
        heap(candidate),
        heap(carried),
        heap(dCandidate),
      ];
      const [dg, dgh] = [heap(dGates), heap(dGatesH)];
      for (let b = 0; b < B; b++) {
        const rec = (b * T + at(t)) * U;
        const row = (b * T + at(t)) * 3 * U;
        for (let j = 0; j < U; j++) {
          const grad = flushed((g[(b * T + t) * U + j] ?? 0) + (carry[b * U + j] ?? 0));
          const pre = zp[rec + j] ?? 0;
          const z = gate.value(pre);
          const hh = hhs[rec + j] ?? 0;
          const dPreH = flushed(grad * (1 - z) * (1 - hh * hh));
          dg[row + j] = flushed(grad * ((hs[rec + j] ?? 0) - hh) * gate.slope(pre, z));
          dg[row + 2 * U + j] = dPreH;
          dgh[rec + j] = dPreH;
          da[b * U + j] = dPreH;
          carry[b * U + j] = grad * z;
        }
      }
    }
    const dReset = product(wasm, dCandidate, recurrentHT); // d(r∘h_{t-1})
    {
      const [m, hs, rp, carry, dzr] = [heap(dReset), heap(h), heap(rPre), heap(carried), heap(dZr)];
      const [dg, dgzr] = [heap(dGates), heap(dGatesZr)];
      for (let b = 0; b < B; b++) {
        const rec = (b * T + at(t)) * U;
        const row = (b * T + at(t)) * 3 * U;
        for (let j = 0; j < U; j++) {
          const d = m[b * U + j] ?? 0;
          const pre = rp[rec + j] ?? 0;
          const r = gate.value(pre);
          const dPreR = flushed(d * (hs[rec + j] ?? 0) * gate.slope(pre, r));
          const dPreZ = dg[row + j] ?? 0;
          dg[row + U + j] = dPreR;
          dgzr[2 * rec + j] = dPreZ;
          dgzr[2 * rec + U + j] = dPreR;
          dzr[b * 2 * U + j] = dPreZ;
          dzr[b * 2 * U + U + j] = dPreR;
          carry[b * U + j] = (carry[b * U + j] ?? 0) + d * r;
        }
      }
    }
    release(wasm, dReset);
    const dFromGates = product(wasm, dZr, recurrentZrT);
    {
      const [m, carry] = [heap(dFromGates), heap(carried)];
      for (let k = 0; k < B * U; k++) carry[k] = (carry[k] ?? 0) + (m[k] ?? 0);
    }
    release(wasm, dFromGates);
  }
  release(wasm, carried, dCandidate, dZr);
  return [dGates, dGatesZr, dGatesH];
};

export const gruKernels: readonly tf.KernelConfig[] = [
  { kernelName: GRU_SEQUENCE, backendName: 'wasm', kernelFunc: gruSequence },
  { kernelName: GRU_SEQUENCE_GRAD, backendName: 'wasm', kernelFunc: gruSequenceGrad },
];
