// The layer controller's HTTP surface: the original design's calls with the same JSON shapes,
// plus `train`, the `dev.kaskade.layers.train.requested` event and job status / deletion.
//
//   POST /create_layers {"layers":[{"type","config",...}], "job_id"?, "input_shape"?}
//   POST /initialize    {"job_id"?, "seed"?, "optimizer"?, "learning_rate"?}
//   POST /forward       {"input": nested, "job_id"?}          → {"output": nested}
//   POST /backward      {"output_grad": nested, "learning_rate"?, "job_id"?}
//   POST /save_model    {"model_path", "job_id"?};  POST /load_model {"model_path", "job_id"?}
//   POST /save_layers   {"job_id"?};                POST /checkpoint {"job_id"?}
//   POST /train         the event's data as JSON;   POST / a layers.train.requested CloudEvent
//   GET  /jobs/<id>;    DELETE /jobs/<id> (deletes the job's layer services)
import type { Request, Response } from '@google-cloud/functions-framework';
import { z } from 'zod';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import { answeredProbe, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { EVENT_TYPES, layerEntrySchema, validateEventData } from '../../events/catalog.js';
import { receiveEvent } from '../../events/receive.js';
import { DEFAULT_JOB, type LayerController } from './controller.js';

const jobId = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/, 'must be 1-128 letters, digits, ".", "_" or "-"')
  .default(DEFAULT_JOB);
const schemas = {
  createLayers: z.object({
    job_id: jobId,
    layers: z.array(layerEntrySchema).min(1).max(64),
    input_shape: z.array(z.number().int().min(1).max(65_536)).min(1).max(4).optional(),
  }),
  initialize: z.object({
    job_id: jobId,
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .optional(),
    optimizer: z.enum(['adam', 'sgd']).optional(),
    learning_rate: z.number().gt(0).max(10).optional(),
  }),
  forward: z.object({ job_id: jobId, input: z.unknown() }),
  backward: z.object({ job_id: jobId, output_grad: z.unknown(), learning_rate: z.number().gt(0).max(10).optional() }),
  modelPath: z.object({ job_id: jobId, model_path: z.string().min(1).max(2048) }),
  job: z.object({ job_id: jobId }),
};

function parse<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new BadInputError(
    `${what}: ${issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'body'}: ${issue?.message ?? 'invalid'}`,
  );
}

export function createControllerHandler(controller: LayerController, logger: Logger): Handler {
  return withErrors(async (req: Request, res: Response) => {
    if (answeredProbe(req, res)) return;
    const route = `${req.method} ${req.path.replace(/\/+$/, '') || '/'}`;
    const ok = (body: unknown): void => void res.status(200).json(body);
    switch (route) {
      case 'GET /health':
        return ok({ status: 'ok' });
      case 'POST /': {
        const { data, event } = receiveEvent(req, [EVENT_TYPES.layersTrainRequested]);
        logger.info(
          `${event.id}: train ${data.jobId}, ${data.epochs} epoch(s), batch ${data.batchSize}, M = ${data.microbatches}`,
        );
        return ok(await controller.train(data));
      }
      case 'POST /train':
        return ok(await controller.train(validateEventData(EVENT_TYPES.layersTrainRequested, req.body)));
      case 'POST /create_layers': {
        const body = parse(schemas.createLayers, req.body, 'create_layers');
        const job = await controller.createLayers(body.job_id, body.layers, body.input_shape);
        return ok({
          status: 'created',
          job_id: job.jobId,
          layers: job.endpoints.map((e) => ({ name: e.name, url: e.url })),
        });
      }
      case 'POST /initialize': {
        const body = parse(schemas.initialize, req.body, 'initialize');
        const job = await controller.initialize(body.job_id, {
          ...(body.seed === undefined ? {} : { seed: body.seed }),
          ...(body.optimizer ? { optimizer: body.optimizer } : {}),
          ...(body.learning_rate ? { learningRate: body.learning_rate } : {}),
        });
        return ok({ status: 'initialized', job_id: job.jobId, layers: job.layers.length });
      }
      case 'POST /forward': {
        const body = parse(schemas.forward, req.body, 'forward');
        return ok({ output: await controller.forwardJson(body.job_id, body.input) });
      }
      case 'POST /backward': {
        const body = parse(schemas.backward, req.body, 'backward');
        const { step } = await controller.backwardJson(body.job_id, body.output_grad, body.learning_rate);
        return ok({ status: 'ok', step });
      }
      case 'POST /save_model': {
        const body = parse(schemas.modelPath, req.body, 'save_model');
        return ok({ status: 'saved', model_path: await controller.saveModel(body.job_id, body.model_path) });
      }
      case 'POST /load_model': {
        const body = parse(schemas.modelPath, req.body, 'load_model');
        return ok({ status: 'loaded', model_path: await controller.loadModel(body.job_id, body.model_path) });
      }
      case 'POST /save_layers': {
        const body = parse(schemas.job, req.body, 'save_layers');
        return ok({ status: 'saved', path: await controller.saveLayers(body.job_id) });
      }
      case 'POST /checkpoint': {
        const body = parse(schemas.job, req.body, 'checkpoint');
        const job = await controller.saveLayersState(body.job_id);
        return ok({ status: 'saved', step: job.progress.checkpointStep });
      }
      default: {
        const id = /^\/jobs\/([^/]+)$/.exec(req.path)?.[1];
        if (id !== undefined && req.method === 'GET')
          return ok(await controller.job(parse(jobId, decodeURIComponent(id), 'job id')));
        if (id !== undefined && req.method === 'DELETE')
          return ok(await controller.deleteJob(parse(jobId, decodeURIComponent(id), 'job id')));
        throw new NotFoundError(`no route ${route}`);
      }
    }
  }, logger);
}
