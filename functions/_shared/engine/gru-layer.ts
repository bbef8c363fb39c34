// TF.js's GRU layer, the same in every respect that is saved (class name `GRU`, config, weight
// names and layout), that runs its sequence as one fused op (gru.ts) when it can: on the wasm
// rung, without masks, dropout, initial or kept state, with a tanh candidate and a (hard)
// sigmoid gate. Elsewhere it runs TF.js's own step loop, so results never depend on which path ran.
//
// `registerFusedGru()` makes every GRU that TF.js deserializes in this process (loaded models,
// and the copies a Bidirectional wrapper makes of the layer it wraps) one of these.
import * as tf from '@tensorflow/tfjs';
import { fusedGruAvailable, gruSequence } from './gru.js';
import { GRU_GATE_ACTIVATIONS, type GruGateActivation } from './kernels/gru.js';

type GruArgs = Parameters<typeof tf.layers.gru>[0];
type GruCell = ReturnType<typeof tf.layers.gruCell>;
type Kwargs = Parameters<tf.RNN['call']>[1];

export class FusedGru extends tf.RNN {
  /** Saved as, and loaded in place of, TF.js's GRU. */
  static override className = 'GRU';
  private readonly gru: GruCell;

  constructor(args: GruArgs) {
    const cell = tf.layers.gruCell(args);
    super({ ...args, cell });
    this.gru = cell;
  }

  override call(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    const x = Array.isArray(inputs) ? (inputs.length === 1 ? inputs[0] : undefined) : inputs;
    const gate = this.fusableGate(kwargs);
    if (x === undefined || gate === undefined || x.rank !== 3) return this.callStepwise(inputs, kwargs);
    return tf.tidy(() => {
      const { kernel, recurrentKernel, bias } = this.gru;
      const units = this.gru.units;
      const h = gruSequence(
        tf.cast(x, 'float32'),
        kernel.read(),
        recurrentKernel.read(),
        this.gru.useBias ? bias.read() : tf.zeros([3 * units]),
        {
          goBackwards: this.goBackwards,
          recurrentActivation: gate,
        },
      );
      if (this.returnSequences) return h;
      const [batch, steps] = h.shape;
      return tf.reshape(tf.slice(h, [0, steps - 1, 0], [batch, 1, units]), [batch, units]);
    });
  }

  /** The gate activation when the fused op computes exactly what the step loop would. */
  private fusableGate(kwargs: Kwargs): GruGateActivation | undefined {
    if (!fusedGruAvailable() || this.stateful || this.returnState) return undefined;
    if (kwargs.mask != null || kwargs.initialState != null) return undefined;
    if (this.gru.dropout > 0 || this.gru.recurrentDropout > 0) return undefined;
    if (this.gru.activation.getClassName() !== 'tanh') return undefined;
    const gate = this.gru.recurrentActivation.getClassName();
    return GRU_GATE_ACTIVATIONS.find((g) => g === gate);
  }

  /** TF.js's GRU.call: fresh dropout masks per call, then the RNN step loop. */
  private callStepwise(inputs: tf.Tensor | tf.Tensor[], kwargs: Kwargs): tf.Tensor | tf.Tensor[] {
    return tf.tidy(() => {
      // The cell makes its masks when they are null (typed as never null, hence the assign).
      tf.dispose([this.gru.dropoutMask, this.gru.recurrentDropoutMask].filter((m) => m != null));
      Object.assign(this.gru, { dropoutMask: null, recurrentDropoutMask: null });
      return super.call(inputs, kwargs);
    });
  }

  static override fromConfig<T extends tf.serialization.Serializable>(
    cls: tf.serialization.SerializableConstructor<T>,
    config: tf.serialization.ConfigDict,
  ): T {
    return new cls(config);
  }
}

/** Every GRU TF.js deserializes from now on in this process is a FusedGru; idempotent. */
export function registerFusedGru(): void {
  tf.serialization.registerClass(FusedGru);
}

/** A GRU layer (fused where it can be), registered first so Bidirectional copies it as one too. */
export function fusedGru(args: GruArgs): FusedGru {
  registerFusedGru();
  return new FusedGru(args);
}
