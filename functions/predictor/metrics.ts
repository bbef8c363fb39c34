// The predictor's metrics: which version of each model is loaded, how long loading took, and how
// many instances each model run got after batching (kaskade_predictor_* in the pod's registry).
import { boundedLabel, predictorMetrics } from '../_shared/observability/workload-metrics.js';
import type { ModelLoader, ServedModel } from './model-loader.js';

const MODEL_FOLDER = /\/models\/([^/]+)\//;

/** The name a model is served under: its folder under `models/`, else its architecture. */
export function servedName(served: Pick<ServedModel, 'folderUrl' | 'metadata'>): string {
  return boundedLabel(MODEL_FOLDER.exec(served.folderUrl)?.[1] ?? served.metadata.model);
}

/** The same loader, timing each load and keeping `kaskade_predictor_model_info` on the newest version. */
export function measuredLoader(load: ModelLoader): ModelLoader {
  const metrics = predictorMetrics();
  const shown = new Map<string, { model: string; version: string; engine: string }>();
  return async (folderUrl) => {
    const started = performance.now();
    const served = await load(folderUrl);
    const model = servedName(served);
    metrics.loadSeconds.observe({ model, engine: served.engine }, (performance.now() - started) / 1000);
    const previous = shown.get(model);
    if (previous !== undefined) metrics.modelInfo.remove(previous);
    const labels = { model, version: boundedLabel(served.version), engine: served.engine };
    metrics.modelInfo.set(labels, 1);
    shown.set(model, labels);
    return served;
  };
}

/** Records one model run's batch size. */
export function recordBatch(served: Pick<ServedModel, 'folderUrl' | 'metadata'>, instances: number): void {
  predictorMetrics().batchSize.observe({ model: servedName(served) }, instances);
}
