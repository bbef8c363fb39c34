// One job's copy of this layer: its weights, optimizer state, the inputs it keeps between a
// micro-batch's forward and backward, and the gradients of the current step, which accumulate
// over the step's micro-batches and are applied once. Steps count from 1; `appliedStep` is the
// last one applied, so a forward for an applied step (stale data) is refused.
import type * as tfjs from '@tensorflow/tfjs';
import { ConflictError, BadInputError } from '../_shared/errors.js';
import {
  backwardFromKept,
  dropoutMask,
  forwardKeeping,
  initialTensors,
  layerBackward,
  layerForward,
  parameterNames,
  stateNames,
  updatedState,
  type Tensors,
} from '../_shared/layers/ops.js';
import {
  applyUpdate,
  disposeOptimizerState,
  emptyOptimizerState,
  type OptimizerSpec,
  type OptimizerState,
} from '../_shared/layers/optimizer.js';
import { outputShape, type LayerSpec } from '../_shared/layers/spec.js';
import type { MicrobatchRef } from '../../events/layers.js';

type TF = typeof tfjs;

interface Held {
  readonly x: tfjs.Tensor;
  readonly mask: tfjs.Tensor | undefined;
  /** What a conv or fc layer's backward needs besides x (so it runs no second forward). */
  readonly kept: Tensors | undefined;
}

interface Accumulator {
  readonly step: number;
  readonly grads: Map<string, tfjs.Tensor>;
  readonly microbatches: Set<number>;
}

export interface LayerJobInit {
  readonly jobId: string;
  readonly spec: LayerSpec;
  /** The type and config as given (kept verbatim in checkpoints and `GET /health`). */
  readonly entry: { readonly type: string; readonly config: unknown };
  readonly optimizer: OptimizerSpec;
  readonly seed: number;
  /** Parameters and state to start from; fresh ones from the seed when absent. */
  readonly tensors?: Tensors;
  readonly appliedStep?: number;
  readonly optimizerState?: OptimizerState;
}

export class LayerJob {
  readonly jobId: string;
  readonly spec: LayerSpec;
  readonly entry: LayerJobInit['entry'];
  readonly optimizer: OptimizerSpec;
  readonly seed: number;
  appliedStep: number;
  private readonly params: Record<string, tfjs.Variable> = {};
  private state: Tensors = {};
  private readonly optimizerState: OptimizerState;
  private readonly held = new Map<string, Held>();
  /** Each back-propagated micro-batch's answer until its step is applied, so a repeated backward is answered again. */
  private readonly answers = new Map<string, Uint8Array>();
  private accumulator: Accumulator | undefined;

  constructor(
    private readonly tf: TF,
    init: LayerJobInit,
  ) {
    this.jobId = init.jobId;
    this.spec = init.spec;
    this.entry = init.entry;
    this.optimizer = init.optimizer;
    this.seed = init.seed;
    this.appliedStep = init.appliedStep ?? 0;
    this.optimizerState = init.optimizerState ?? emptyOptimizerState();
    const tensors = init.tensors ?? initialTensors(tf, init.spec, init.seed);
    for (const name of parameterNames(init.spec)) {
      const value = tensors[name];
      if (value === undefined) throw new BadInputError(`layer ${init.spec.kind}: missing parameter ${name}`);
      this.params[name] = tf.variable(value, true);
    }
    for (const name of stateNames(init.spec)) {
      const value = tensors[name];
      if (value === undefined) throw new BadInputError(`layer ${init.spec.kind}: missing state ${name}`);
      this.state[name] = tf.clone(value);
    }
    for (const t of Object.values(tensors)) t.dispose();
  }

  /** The per-example shape this layer answers for `x` (checked: a wrong shape is a 400). */
  checkInput(x: tfjs.Tensor): void {
    if (x.dtype !== 'float32')
      throw new BadInputError(`layer ${this.spec.kind}: input must be float32 (F32), got ${x.dtype}`);
    if (x.rank < 2)
      throw new BadInputError(
        `layer ${this.spec.kind}: input must have a batch dimension, got shape [${x.shape.join(', ')}]`,
      );
    outputShape(this.spec, x.shape.slice(1));
  }

  private values(): Tensors {
    return { ...this.params, ...this.state };
  }

  /** Runs the layer; in training, keeps `x` (and dropout's mask) for the micro-batch's backward. */
  forward(ref: MicrobatchRef, x: tfjs.Tensor, training: boolean): tfjs.Tensor {
    this.checkInput(x);
    if (!training) return this.tf.tidy(() => layerForward(this.tf, this.spec, this.values(), x, { training: false }));
    if (ref.step <= this.appliedStep) {
      throw new ConflictError(
        `job ${ref.jobId}: step ${ref.step} is already applied (last applied step ${this.appliedStep}); forward refused`,
      );
    }
    const key = heldKey(ref);
    this.release(key);
    const keeping = forwardKeeping(this.tf, this.spec, this.values(), x);
    if (keeping !== undefined) {
      this.held.set(key, { x: this.tf.clone(x), mask: undefined, kept: keeping.kept });
      return keeping.y;
    }
    const mask = dropoutMask(this.tf, this.spec, x.shape, this.seed * 1_000_003 + ref.step * 4099 + ref.microbatch);
    const y = this.tf.tidy(() => layerForward(this.tf, this.spec, this.values(), x, { training: true, mask }));
    if (this.spec.kind === 'batchnorm') this.replaceState(updatedState(this.tf, this.spec, this.values(), x));
    this.held.set(key, { x: this.tf.clone(x), mask, kept: undefined });
    return y;
  }

  /**
   * The micro-batch's backward: gradients of the kept input against `dy` are added to the
   * step's accumulator, the kept input is freed, and `dx` is returned when asked for.
   */
  backward(ref: MicrobatchRef, dy: tfjs.Tensor, inputGrad: boolean): tfjs.Tensor | undefined {
    const key = heldKey(ref);
    const held = this.held.get(key);
    if (held === undefined) {
      throw new ConflictError(
        `job ${ref.jobId}: no forward kept for step ${ref.step} micro-batch ${ref.microbatch} (never sent, already used, or lost in a restart)`,
      );
    }
    const expected = [held.x.shape[0] ?? 0, ...outputShape(this.spec, held.x.shape.slice(1))];
    if (dy.dtype !== 'float32' || dy.shape.join(',') !== expected.join(',')) {
      throw new BadInputError(
        `layer ${this.spec.kind}: output gradient must be float32 of shape [${expected.join(', ')}], got ${dy.dtype} [${dy.shape.join(', ')}]`,
      );
    }
    if (this.accumulator !== undefined && this.accumulator.step !== ref.step) this.discard(this.accumulator.step);
    const acc = (this.accumulator ??= {
      step: ref.step,
      grads: new Map<string, tfjs.Tensor>(),
      microbatches: new Set<number>(),
    });
    if (acc.microbatches.has(ref.microbatch))
      throw new ConflictError(
        `job ${ref.jobId}: step ${ref.step} micro-batch ${ref.microbatch} was already back-propagated`,
      );
    const { dx, grads } =
      held.kept !== undefined
        ? backwardFromKept(this.tf, this.spec, this.values(), held.kept, dy, held.x.shape, inputGrad)
        : layerBackward(this.tf, this.spec, this.values(), held.x, dy, { training: true, mask: held.mask, inputGrad });
    for (const [name, g] of Object.entries(grads)) {
      const previous = acc.grads.get(name);
      if (previous === undefined) {
        acc.grads.set(name, g);
      } else {
        acc.grads.set(name, this.tf.add(previous, g));
        previous.dispose();
        g.dispose();
      }
    }
    acc.microbatches.add(ref.microbatch);
    this.release(key);
    return dx;
  }

  /** The answer a micro-batch's backward already gave (a retried call gets it again, nothing added twice). */
  backwardAnswer(ref: MicrobatchRef): Uint8Array | undefined {
    return this.answers.get(heldKey(ref));
  }

  rememberBackwardAnswer(ref: MicrobatchRef, body: Uint8Array): void {
    if (this.accumulator?.step === ref.step) this.answers.set(heldKey(ref), body);
  }

  /**
   * Applies the step's accumulated gradients once all `microbatches` have arrived. Applying a
   * step again is a no-op (the call is idempotent, so a lost answer may be retried).
   */
  apply(step: number, microbatches: number, learningRate?: number): { applied: boolean } {
    if (step <= this.appliedStep) return { applied: false };
    const acc = this.accumulator;
    const have = acc?.step === step ? acc.microbatches.size : 0;
    if (acc === undefined || acc.step !== step || have !== microbatches) {
      throw new ConflictError(
        `job ${this.jobId}: step ${step} has ${have} of ${microbatches} micro-batch gradients; not applied`,
      );
    }
    const grads = Object.fromEntries(acc.grads);
    applyUpdate(this.tf, this.optimizer, this.optimizerState, this.params, grads, learningRate);
    this.discard(step);
    this.appliedStep = step;
    return { applied: true };
  }

  /** Drops a step's gradients and kept inputs (a failed step), leaving the weights as they were. */
  discard(step: number): void {
    if (this.accumulator?.step === step) {
      for (const g of this.accumulator.grads.values()) g.dispose();
      this.accumulator = undefined;
    }
    for (const key of [...this.held.keys()]) if (key.startsWith(`${step}.`)) this.release(key);
    for (const key of [...this.answers.keys()]) if (key.startsWith(`${step}.`)) this.answers.delete(key);
  }

  /** Micro-batches whose forward is kept and whose backward has not come yet. */
  heldCount(): number {
    return this.held.size;
  }

  /** Parameters, state and optimizer slots as named tensors (views; the caller must not dispose). */
  snapshot(): { params: Tensors; state: Tensors; optimizer: Tensors; optimizerStep: number } {
    return {
      params: { ...this.params },
      state: { ...this.state },
      optimizer: Object.fromEntries(this.optimizerState.slots),
      optimizerStep: this.optimizerState.step,
    };
  }

  /** Replaces the parameters (and state) with loaded ones of the same shapes; optimizer state is kept. */
  setWeights(tensors: Tensors): void {
    for (const [name, variable] of Object.entries(this.params)) {
      const t = tensors[name];
      if (t === undefined || t.shape.join(',') !== variable.shape.join(',')) {
        throw new BadInputError(
          `layer ${this.spec.kind}: weight ${name} must have shape [${variable.shape.join(', ')}], got ${t ? `[${t.shape.join(', ')}]` : 'none'}`,
        );
      }
    }
    for (const [name, variable] of Object.entries(this.params)) variable.assign(tensors[name] as tfjs.Tensor);
    const next: Tensors = {};
    for (const name of Object.keys(this.state)) {
      const t = tensors[name];
      if (t !== undefined) next[name] = this.tf.clone(t);
    }
    this.replaceState(next);
  }

  private replaceState(next: Tensors): void {
    for (const [name, t] of Object.entries(next)) {
      this.state[name]?.dispose();
      this.state[name] = t;
    }
  }

  private release(key: string): void {
    const held = this.held.get(key);
    if (held === undefined) return;
    held.x.dispose();
    held.mask?.dispose();
    for (const t of Object.values(held.kept ?? {})) t.dispose();
    this.held.delete(key);
  }

  dispose(): void {
    if (this.accumulator) this.discard(this.accumulator.step);
    for (const key of [...this.held.keys()]) this.release(key);
    for (const v of Object.values(this.params)) v.dispose();
    for (const t of Object.values(this.state)) t.dispose();
    disposeOptimizerState(this.optimizerState);
  }
}

function heldKey(ref: MicrobatchRef): string {
  return `${ref.step}.${ref.microbatch}`;
}
