// The image model on ONNX Runtime: the TF.js MobileNet exported to ONNX once at load (the
// project's exporter; outputs equal TF.js's within 1e-4), one session shared by every request.
import type * as tfjs from '@tensorflow/tfjs';
import { BadInputError, InferenceError } from '../_shared/errors.js';
import type { OnnxSettings } from '../_shared/serving/config.js';
import { exportOnnx } from '../_shared/serving/export-onnx.js';
import { openOnnxModel } from '../_shared/serving/onnx-model.js';
import type { ServingModel } from '../_shared/serving/types.js';
import { imageMetadata, type ImageModel, type ImageModelMetadata } from './image-model.js';

export class OnnxImageModel implements ImageModel {
  readonly engine = 'onnx';

  private constructor(
    readonly metadata: ImageModelMetadata,
    private readonly session: ServingModel,
  ) {}

  /** Exports `model` (which it then disposes) and opens the export on ONNX Runtime. */
  static async fromLayers(model: tfjs.LayersModel, settings: OnnxSettings): Promise<OnnxImageModel> {
    try {
      const metadata = imageMetadata(model);
      return new OnnxImageModel(
        metadata,
        await openOnnxModel(exportOnnx(model), settings, `edge image model (${metadata.dataset})`),
      );
    } finally {
      model.dispose();
    }
  }

  async predict(pixels: Float32Array): Promise<Float32Array> {
    const s = this.metadata.inputSize;
    if (pixels.length !== s * s * 3)
      throw new BadInputError(`expected ${s}×${s}×3 pixels, got ${pixels.length} values`);
    const input = this.session.inputs[0];
    const output = this.session.outputs[0];
    if (input === undefined || output === undefined)
      throw new InferenceError('the ONNX image model has no input or output');
    const answer = await this.session.run({ [input.name]: { dtype: 'float32', shape: [1, s, s, 3], data: pixels } });
    const probs = answer[output.name]?.data;
    if (!(probs instanceof Float32Array))
      throw new InferenceError(`the ONNX image model answered no float32 "${output.name}"`);
    return probs;
  }

  dispose(): void {
    void this.session.dispose();
  }
}
