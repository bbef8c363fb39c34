// The layer service's HTTP surface. Tensor calls are binary CloudEvents with safetensors bodies
// (events/layers.ts); control calls are small JSON. The original design's JSON forms stay on
// the same paths: a POST without `ce-*` headers to /forward or /backward is one.
//
//   POST /forward     ce-type dev.kaskade.layer.forward.requested, body {x} → forward.completed {y}
//                     JSON {"input": nested, "job_id"?} → {"output": nested}
//   POST /backward    ce-type dev.kaskade.layer.backward.requested, body {dy} → backward.completed {dx}
//                     JSON {"output_grad": nested, "learning_rate"?, "job_id"?} → {"input_grad"} (applied at once)
//   POST /initialize  {"job_id"?, "seed"?, "optimizer"?, "type"?, "config"?}
//   POST /apply       {"job_id", "step", "microbatches", "learning_rate"?}   idempotent
//   POST /discard     {"job_id", "step"}
//   POST /save        {"job_id"?} → checkpoint;  POST /load {"job_id"?} → back to LATEST
//   GET  /weights?job_id=  → safetensors;        PUT /weights?job_id= (safetensors) sets them
//   GET  /health, /healthz;                       DELETE /jobs/<id> forgets a job in memory
import type { Request, Response } from '@google-cloud/functions-framework';
import type * as tfjs from '@tensorflow/tfjs';
import { z } from 'zod';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import { answeredProbe, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { tensorFromJson, tensorToJson } from '../_shared/layers/json-tensors.js';
import { decodeTensors, encodeTfTensors, toTfTensors } from '../_shared/wire/index.js';
import { SAFETENSORS_CONTENT_TYPE } from '../../events/catalog.js';
import { LAYER_EVENT_TYPES, layerEventHeaders, readLayerMessage, type MicrobatchRef } from '../../events/layers.js';
import type { LayerJob } from './layer-job.js';
import type { LayerRegistry } from './registry.js';

export interface LayerDeps {
  readonly tf: typeof tfjs;
  readonly registry: LayerRegistry;
  readonly logger: Logger;
}

const SOURCE = '/kaskade/layer';
/** The job the original design's JSON calls act on (it had one network per layer service). */
export const DEFAULT_JOB = 'default';

const jobId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/);
const step = z.number().int().min(1).max(1e9);
const schemas = {
  initialize: z.object({
    job_id: jobId.default(DEFAULT_JOB),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31 - 1)
      .default(0),
    optimizer: z.unknown().optional(),
    type: z.unknown().optional(),
    config: z.unknown().optional(),
  }),
  apply: z.object({
    job_id: jobId,
    step,
    microbatches: z.number().int().min(1).max(4096),
    learning_rate: z.number().gt(0).max(10).optional(),
  }),
  discard: z.object({ job_id: jobId, step }),
  job: z.object({ job_id: jobId.default(DEFAULT_JOB) }),
  forward: z.object({ input: z.unknown(), job_id: jobId.default(DEFAULT_JOB) }),
  backward: z.object({
    output_grad: z.unknown(),
    learning_rate: z.number().gt(0).max(10).optional(),
    job_id: jobId.default(DEFAULT_JOB),
  }),
};

function parseBody<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
  const result = schema.safeParse(body ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  throw new BadInputError(
    `${what}: ${issue && issue.path.length > 0 ? issue.path.map(String).join('.') : 'body'}: ${issue?.message ?? 'invalid'}`,
  );
}

function rawBody(req: Request): Uint8Array {
  const raw: unknown = req.rawBody;
  return Buffer.isBuffer(raw) ? raw : new Uint8Array(0);
}

function isEvent(req: Request): boolean {
  return (
    req.header('ce-type') !== undefined || (req.header('content-type') ?? '').startsWith('application/cloudevents')
  );
}

function sendTensors(res: Response, headers: Record<string, string>, body: Uint8Array): void {
  res
    .status(200)
    .set(headers)
    .send(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
}

/**
 * The body's one tensor: named `name`, or the only tensor in it (so the controller can pass a
 * layer's answer on to the next layer without re-encoding it).
 */
function oneTensor(body: Uint8Array, name: string, maxBytes: number): tfjs.Tensor {
  const decoded = decodeTensors(body, { maxBytes });
  const names = Object.keys(decoded.tensors);
  const pick = names.includes(name) ? name : names.length === 1 ? names[0] : undefined;
  const wire = pick === undefined ? undefined : decoded.tensors[pick];
  if (wire === undefined)
    throw new BadInputError(`the safetensors body must hold one tensor (or one named "${name}"), got ${names.length}`);
  const t = toTfTensors({ tensors: { [name]: wire } })[name];
  if (t === undefined) throw new BadInputError(`the safetensors body has no tensor "${name}"`);
  return t;
}

export function createLayerHandler(deps: () => Promise<LayerDeps>, logger: Logger): Handler {
  return withErrors(async (req: Request, res: Response) => {
    if (answeredProbe(req, res)) return;
    const d = await deps();
    const route = `${req.method} ${req.path.replace(/\/+$/, '') || '/'}`;
    switch (route) {
      case 'GET /health':
        res.status(200).json(health(d));
        return;
      case 'POST /forward':
        await (isEvent(req) ? forwardEvent(d, req, res) : forwardJson(d, req, res));
        return;
      case 'POST /backward':
        await (isEvent(req) ? backwardEvent(d, req, res) : backwardJson(d, req, res));
        return;
      case 'POST /initialize': {
        const body = parseBody(schemas.initialize, req.body, 'initialize');
        const job = await d.registry.initialize({
          jobId: body.job_id,
          seed: body.seed,
          optimizer: body.optimizer,
          type: body.type,
          config: body.config,
        });
        res.status(200).json({ status: 'initialized', job_id: job.jobId, type: job.entry.type, step: job.appliedStep });
        return;
      }
      case 'POST /apply': {
        const body = parseBody(schemas.apply, req.body, 'apply');
        const job = await d.registry.get(body.job_id);
        const { applied } = job.apply(body.step, body.microbatches, body.learning_rate);
        res.status(200).json({ applied, step: job.appliedStep });
        return;
      }
      case 'POST /discard': {
        const body = parseBody(schemas.discard, req.body, 'discard');
        (await d.registry.get(body.job_id)).discard(body.step);
        res.status(200).json({ discarded: body.step });
        return;
      }
      case 'POST /save': {
        const body = parseBody(schemas.job, req.body, 'save');
        res.status(200).json(await d.registry.save(body.job_id));
        return;
      }
      case 'POST /load': {
        const body = parseBody(schemas.job, req.body, 'load');
        const job = await d.registry.reload(body.job_id);
        res.status(200).json({ status: 'loaded', step: job.appliedStep });
        return;
      }
      case 'GET /weights':
        await getWeights(d, req, res);
        return;
      case 'PUT /weights':
        await putWeights(d, req, res);
        return;
      default:
        if (req.method === 'DELETE' && req.path.startsWith('/jobs/')) {
          const id = parseBody(jobId, decodeURIComponent(req.path.slice('/jobs/'.length)), 'job id');
          res.status(200).json({ dropped: d.registry.drop(id) });
          return;
        }
        throw new NotFoundError(`no route ${route}`);
    }
  }, logger);
}

function health(d: LayerDeps): unknown {
  const { identity } = d.registry;
  return {
    status: 'ok',
    type: identity.entry?.type ?? null,
    config: identity.entry?.config ?? null,
    jobs: d.registry.jobIds(),
  };
}

async function forwardEvent(d: LayerDeps, req: Request, res: Response): Promise<void> {
  const message = readLayerMessage(req.headers, rawBody(req), [LAYER_EVENT_TYPES.forwardRequested]);
  const training = message.attributes.training !== 'false';
  const job = await d.registry.get(message.ref.jobId);
  const x = oneTensor(message.data, 'x', d.registry.identity.maxBytes);
  let y: tfjs.Tensor | undefined;
  try {
    y = job.forward(message.ref, x, training);
    const body = await encodeTfTensors({ y });
    sendTensors(res, layerEventHeaders(LAYER_EVENT_TYPES.forwardCompleted, SOURCE, message.ref), body);
  } finally {
    x.dispose();
    y?.dispose();
  }
}

async function backwardEvent(d: LayerDeps, req: Request, res: Response): Promise<void> {
  const message = readLayerMessage(req.headers, rawBody(req), [LAYER_EVENT_TYPES.backwardRequested]);
  const inputGrad = message.attributes.inputgrad !== 'false';
  const job = await d.registry.get(message.ref.jobId);
  const headers = layerEventHeaders(LAYER_EVENT_TYPES.backwardCompleted, SOURCE, message.ref);
  const answered = job.backwardAnswer(message.ref);
  if (answered !== undefined) {
    sendTensors(res, headers, answered);
    return;
  }
  const dy = oneTensor(message.data, 'dy', d.registry.identity.maxBytes);
  let dx: tfjs.Tensor | undefined;
  try {
    dx = job.backward(message.ref, dy, inputGrad);
    const body = dx === undefined ? new Uint8Array(0) : await encodeTfTensors({ dx });
    job.rememberBackwardAnswer(message.ref, body);
    sendTensors(res, headers, body);
  } finally {
    dy.dispose();
    dx?.dispose();
  }
}

/** The JSON forms train one batch at a time: the next step, micro-batch 0. */
function nextRef(job: LayerJob): MicrobatchRef {
  return { jobId: job.jobId, step: job.appliedStep + 1, microbatch: 0 };
}

async function forwardJson(d: LayerDeps, req: Request, res: Response): Promise<void> {
  const body = parseBody(schemas.forward, req.body, 'forward');
  const job = await d.registry.get(body.job_id);
  const input = tensorFromJson(body.input, 'input');
  const x = d.tf.tensor(input.data, input.shape, 'float32');
  let y: tfjs.Tensor | undefined;
  try {
    const ref = nextRef(job);
    job.discard(ref.step);
    y = job.forward(ref, x, true);
    res.status(200).json({ output: tensorToJson({ shape: y.shape, data: await y.data<'float32'>() }) });
  } finally {
    x.dispose();
    y?.dispose();
  }
}

async function backwardJson(d: LayerDeps, req: Request, res: Response): Promise<void> {
  const body = parseBody(schemas.backward, req.body, 'backward');
  const job = await d.registry.get(body.job_id);
  const grad = tensorFromJson(body.output_grad, 'output_grad');
  const dy = d.tf.tensor(grad.data, grad.shape, 'float32');
  let dx: tfjs.Tensor | undefined;
  try {
    const ref = nextRef(job);
    dx = job.backward(ref, dy, true);
    job.apply(ref.step, 1, body.learning_rate);
    res.status(200).json({
      input_grad: dx === undefined ? null : tensorToJson({ shape: dx.shape, data: await dx.data<'float32'>() }),
    });
  } finally {
    dy.dispose();
    dx?.dispose();
  }
}

function queryJob(req: Request): string {
  const raw = req.query.job_id;
  return parseBody(jobId, raw === undefined ? DEFAULT_JOB : raw, 'job_id');
}

async function getWeights(d: LayerDeps, req: Request, res: Response): Promise<void> {
  const job = await d.registry.get(queryJob(req));
  const { params, state } = job.snapshot();
  const body = await encodeTfTensors(
    { ...params, ...state },
    { step: String(job.appliedStep), layer: JSON.stringify(job.entry) },
  );
  sendTensors(res, { 'content-type': SAFETENSORS_CONTENT_TYPE }, body);
}

async function putWeights(d: LayerDeps, req: Request, res: Response): Promise<void> {
  const job = await d.registry.get(queryJob(req));
  const tensors = toTfTensors(decodeTensors(rawBody(req), { maxBytes: d.registry.identity.maxBytes }));
  try {
    job.setWeights(tensors);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
  res.status(200).json({ status: 'loaded', step: job.appliedStep });
}
