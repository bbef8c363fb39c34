// Publishing a finished job's model where a predictor finds it: `<root>/models/<name>/<jobId>/`
// holds the TF.js layers artifacts (model.json + weight shards), the same model exported to ONNX
// (model.onnx, what the predictor runs on ONNX Runtime), kaskade.json (the metadata the
// predictor reads) and, for text models, the vocabulary; then `<root>/models/<name>/LATEST` is
// pointed at that folder, last, so a reader never follows it to half a model. A model with a
// layer the ONNX exporter cannot write is refused before anything is written.
import type * as tf from '@tensorflow/tfjs';
import {
  MODEL_METADATA_FILE,
  MODEL_METADATA_FORMAT,
  encodeModelMetadata,
  type ModelMetadata,
} from '../_shared/models/metadata.js';
import { modelsLayout, type JobLayout } from '../_shared/jobs/layout.js';
import type { JobRecord, RoundResult } from '../_shared/jobs/record.js';
import { MODEL_ONNX_FILE, exportOnnx } from '../_shared/serving/export-onnx.js';
import { publishLatest } from '../_shared/store/latest.js';
import type { Store } from '../_shared/store/types.js';

export function modelMetadata(job: JobRecord, result: RoundResult, createdAt: string): ModelMetadata {
  return {
    format: MODEL_METADATA_FORMAT,
    model: job.config.model,
    dataset: job.serving.dataset,
    jobId: job.jobId,
    round: result.round,
    rounds: job.config.rounds,
    testAccuracy: result.testAccuracy,
    testLoss: result.testLoss,
    createdAt,
    labels: [...job.serving.labels],
    input: job.serving.input,
  };
}

export async function publishModel(
  deps: { readonly store: Store; readonly now?: () => number },
  job: JobRecord,
  layout: JobLayout,
  model: tf.LayersModel,
  result: RoundResult,
): Promise<NonNullable<JobRecord['published']>> {
  const { store } = deps;
  const at = new Date((deps.now ?? Date.now)()).toISOString();
  const models = modelsLayout(layout.root, job.serving.name);
  const folder = models.version(job.jobId);
  const onnxBytes = exportOnnx(model);
  await model.save(store.modelHandler(folder));
  await store.write(`${folder}${MODEL_ONNX_FILE}`, onnxBytes, { contentType: 'application/octet-stream' });
  const input = job.serving.input;
  if (input.kind === 'tokens' && input.vocabularyFile !== undefined) {
    await store.write(`${folder}${input.vocabularyFile}`, await store.read(layout.vocabulary), {
      contentType: 'application/json',
    });
  }
  await store.write(`${folder}${MODEL_METADATA_FILE}`, encodeModelMetadata(modelMetadata(job, result, at)), {
    contentType: 'application/json',
  });
  // Relative to the pointer's folder, so the published tree can be moved or mounted elsewhere.
  await publishLatest(store, models.folder, `${job.jobId}/`);
  return { folderUrl: folder, pointerUrl: models.latest, at };
}
