// Whole epochs through the pipeline: the training set (images scaled to [-1, 1], shuffled per
// epoch from the job's seed, so a resumed run sees the same order), one pipelined step per
// mini-batch, a checkpoint of every layer every `checkpointEvery` steps and at each epoch's end
// (with the job's progress, so a restarted controller resumes there), test accuracy after each
// epoch, and the trained chain published for the predictor when asked.
//
// A failed step fails the run: every layer goes back to the last checkpoint and the job records
// the error; the next train call carries on from that checkpoint.
import { permutation } from '../_shared/data/random.js';
import type { ImageSet } from '../_shared/data/types.js';
import type { LayersTrainRequested } from '../../events/catalog.js';
import type { LayerController } from './controller.js';
import { saveJob, type EpochResult, type LayerJobRecord, type TrainSettings } from './jobs.js';
import type { LayerClient } from '../../events/layer-client.js';
import { predict, trainStep, type MiniBatch } from './pipeline.js';

export interface TrainSummary {
  readonly jobId: string;
  readonly status: LayerJobRecord['status'];
  readonly step: number;
  readonly epochs: EpochResult[];
  readonly resumedFrom: number;
  readonly published?: string | undefined;
}

export const DEFAULT_CHECKPOINT_EVERY = 50;

export function trainSettings(request: LayersTrainRequested): TrainSettings {
  return {
    dataset: request.dataset,
    epochs: request.epochs,
    batchSize: request.batchSize,
    microbatches: request.microbatches,
    schedule: request.schedule,
    learningRate: request.learningRate,
    checkpointEvery: request.checkpointEvery ?? DEFAULT_CHECKPOINT_EVERY,
    publishAs: request.publishAs,
  };
}

/** Rows `order[start..end)` of a set, scaled from [0, 1] to [-1, 1]. */
export function miniBatch(set: ImageSet, order: Int32Array, start: number, end: number): MiniBatch {
  const size = set.shape.reduce((a, b) => a * b, 1);
  const rows = end - start;
  const x = new Float32Array(rows * size);
  const labels = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    const i = order[start + r] ?? 0;
    const src = set.x.subarray(i * size, (i + 1) * size);
    for (let j = 0; j < size; j++) x[r * size + j] = (src[j] ?? 0) * 2 - 1;
    labels[r] = set.y[i] ?? 0;
  }
  return { x, labels, rows, exampleShape: set.shape, classes: set.classes };
}

/** Accuracy of the chain on a set, in inference mode (no activations kept). */
export async function evaluate(
  clients: readonly LayerClient[],
  jobId: string,
  set: ImageSet,
  chunk = 1000,
): Promise<number> {
  const order = Int32Array.from({ length: set.n }, (_, i) => i);
  let correct = 0;
  for (let start = 0; start < set.n; start += chunk) {
    const end = Math.min(set.n, start + chunk);
    const batch = miniBatch(set, order, start, end);
    const out = await predict(clients, jobId, batch.x, batch.rows, batch.exampleShape);
    const classes = out.shape[1] ?? 1;
    for (let r = 0; r < batch.rows; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++)
        if ((out.data[r * classes + c] ?? 0) > (out.data[r * classes + best] ?? 0)) best = c;
      if (best === batch.labels[r]) correct += 1;
    }
  }
  return correct / Math.max(1, set.n);
}

async function checkpoint(
  controller: LayerController,
  job: LayerJobRecord,
  clients: readonly LayerClient[],
  epoch: number,
  stepInEpoch: number,
): Promise<void> {
  await Promise.all(clients.map((c) => c.save(job.jobId)));
  job.progress = { step: job.progress.step, checkpointStep: job.progress.step, epoch, stepInEpoch };
  await saveJob(controller.deps.store, controller.settings.root, job);
}

export async function runTraining(
  controller: LayerController,
  job: LayerJobRecord,
  request: LayersTrainRequested,
): Promise<TrainSummary> {
  const settings = trainSettings(request);
  const same = job.train !== undefined && JSON.stringify(job.train) === JSON.stringify(settings);
  if (same && job.status === 'trained') {
    return {
      jobId: job.jobId,
      status: job.status,
      step: job.progress.step,
      epochs: job.epochs,
      resumedFrom: job.progress.step,
      published: job.published,
    };
  }
  const clients = controller.clients(job);
  if (!same) {
    // A new run: epochs count from the current weights' checkpoint.
    job.train = settings;
    job.epochs = [];
    job.progress = { ...job.progress, epoch: 0, stepInEpoch: 0 };
  }
  // Whatever happened after the last checkpoint (a crash, a failed step) is rolled back.
  if (job.progress.step !== job.progress.checkpointStep || job.status === 'failed' || job.status === 'training') {
    await Promise.all(clients.map((c) => c.load(job.jobId)));
    job.progress.step = job.progress.checkpointStep;
  }
  const resumedFrom = job.progress.step;
  job.status = 'training';
  delete job.error;
  await saveJob(controller.deps.store, controller.settings.root, job);

  const data = await controller.deps.loadDataset(settings.dataset);
  const { train, test } = data;
  const steps = Math.ceil(train.n / settings.batchSize);
  try {
    for (let epoch = job.progress.epoch; epoch < settings.epochs; epoch++) {
      const order = permutation(train.n, job.seed * 1000 + epoch);
      const started = performance.now();
      let lossSum = 0;
      let correct = 0;
      let seen = 0;
      for (let s = epoch === job.progress.epoch ? job.progress.stepInEpoch : 0; s < steps; s++) {
        const start = s * settings.batchSize;
        const batch = miniBatch(train, order, start, Math.min(train.n, start + settings.batchSize));
        const step = job.progress.step + 1;
        const result = await trainStep(clients, batch, {
          jobId: job.jobId,
          step,
          microbatches: settings.microbatches,
          schedule: settings.schedule,
          learningRate: settings.learningRate,
        });
        job.progress.step = step;
        lossSum += result.loss * result.rows;
        correct += result.correct;
        seen += result.rows;
        if (s + 1 < steps && step % settings.checkpointEvery === 0)
          await checkpoint(controller, job, clients, epoch, s + 1);
      }
      const seconds = (performance.now() - started) / 1000;
      const testAccuracy = await evaluate(clients, job.jobId, test);
      job.epochs.push({
        epoch: epoch + 1,
        loss: lossSum / Math.max(1, seen),
        accuracy: correct / Math.max(1, seen),
        testAccuracy,
        samplesPerSec: seen / seconds,
      });
      controller.deps.logger.info(
        `job ${job.jobId}: epoch ${epoch + 1}/${settings.epochs} loss ${(lossSum / Math.max(1, seen)).toFixed(4)} test accuracy ${testAccuracy.toFixed(4)}`,
      );
      await checkpoint(controller, job, clients, epoch + 1, 0);
    }
  } catch (e) {
    await Promise.allSettled(clients.map((c) => c.load(job.jobId)));
    job.status = 'failed';
    job.error = e instanceof Error ? e.message : String(e);
    job.progress.step = job.progress.checkpointStep;
    await saveJob(controller.deps.store, controller.settings.root, job);
    throw e;
  }
  job.status = 'trained';
  if (settings.publishAs !== undefined) {
    const last = job.epochs.at(-1);
    job.published = await controller.publish(job, settings.publishAs, {
      testAccuracy: last?.testAccuracy ?? null,
      testLoss: null,
      dataset: data.name,
    });
  }
  await saveJob(controller.deps.store, controller.settings.root, job);
  return {
    jobId: job.jobId,
    status: job.status,
    step: job.progress.step,
    epochs: job.epochs,
    resumedFrom,
    published: job.published,
  };
}
