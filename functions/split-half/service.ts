// The split-half service. Half A: an image (JPEG/PNG, raw or multipart) or a v2 tensor in; the
// front runs; the activation goes to half B as a binary CloudEvent with a safetensors body.
// Half B: the activation in, the back runs, the top-k classes out with per-half timings.
// Nothing received is ever executed or unpickled: images go to sharp, tensors to the
// safetensors decoder, which checks every size.
import { randomUUID } from 'node:crypto';
import type { Request, Response } from '@google-cloud/functions-framework';
import {
  BadInputError,
  InferenceError,
  NotFoundError,
  PayloadTooLargeError,
  UnavailableError,
} from '../_shared/errors.js';
import { postBytes, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { decodeTensors, encodeTensorParts } from '../_shared/wire/index.js';
import type { SplitHalfConfig } from './config.js';
import type { LoadedHalf } from './halves.js';
import { imageFromBody, imageLayout, preprocessImage, toChannelsFirst } from './preprocess.js';

export const ACTIVATION_EVENT = 'dev.kaskade.split.activation';

export interface ClassScore {
  class_id: number;
  class_name: string;
  score: number;
}

/** What half B answers (and half A passes on with its own timings added). */
export interface BackAnswer {
  top: ClassScore[];
  cut: string;
  /** Milliseconds half B spent running its layers. */
  backMs: number;
}

export interface SplitAnswer extends BackAnswer {
  frontMs: number;
  preprocessMs: number;
  /** Milliseconds from the request's arrival at A to B's answer. */
  totalMs: number;
  activationBytes: number;
}

export interface HalfDeps {
  config: Pick<SplitHalfConfig, 'half' | 'nextUrl' | 'timeoutMs' | 'maxBodyBytes' | 'topK'>;
  /** The loaded half; rejects (503) while it loads. */
  half: () => LoadedHalf;
  /** Sent with A's call to B (the shared bearer token, when B requires one). */
  callHeaders?: Readonly<Record<string, string>>;
  logger?: Logger;
}

function body(req: Request, maxBytes: number): Buffer {
  const raw: unknown = req.rawBody;
  const buf = Buffer.isBuffer(raw) ? raw : Buffer.alloc(0);
  if (buf.length > maxBytes)
    throw new PayloadTooLargeError(`a request body is at most ${maxBytes} bytes, got ${buf.length}`);
  return buf;
}

export function topK(probabilities: Float32Array, k: number, labels: (i: number) => string): ClassScore[] {
  const order = Array.from(probabilities.keys()).sort((a, b) => probabilities[b]! - probabilities[a]!);
  return order.slice(0, k).map((i) => ({ class_id: i, class_name: labels(i), score: probabilities[i]! }));
}

/** Half A's input as the front's float32 input: a v2 tensor, or image bytes preprocessed. */
async function frontInput(req: Request, loaded: LoadedHalf, maxBytes: number, v2: boolean): Promise<Float32Array> {
  const raw = body(req, maxBytes);
  const shape = loaded.runner.inputShape;
  if (v2) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw.toString('utf8'));
    } catch (e) {
      throw new BadInputError(`a v2 request is JSON: ${(e as Error).message}`, { cause: e });
    }
    const input = (parsed as { inputs?: { shape?: unknown; datatype?: unknown; data?: unknown }[] }).inputs?.[0];
    const want = [1, ...shape];
    if (
      !input ||
      input.datatype !== 'FP32' ||
      JSON.stringify(input.shape) !== JSON.stringify(want) ||
      !Array.isArray(input.data)
    ) {
      throw new BadInputError(
        `a v2 request has inputs[0] = {datatype: "FP32", shape: ${JSON.stringify(want)}, data: [...]}`,
      );
    }
    const data = (input.data as unknown[]).flat(8);
    if (data.length !== want.reduce((a, b) => a * b, 1) || data.some((v) => typeof v !== 'number'))
      throw new BadInputError(`inputs[0].data needs ${want.reduce((a, b) => a * b, 1)} numbers`);
    return Float32Array.from(data as number[]);
  }
  const { size, channelsFirst } = imageLayout(shape);
  const hwc = await preprocessImage(imageFromBody(raw, req.header('content-type') ?? ''), size);
  return channelsFirst ? toChannelsFirst(hwc, size) : hwc;
}

async function serveFront(
  req: Request,
  res: Response,
  deps: HalfDeps,
  route: 'predict' | 'classify' | 'v2',
): Promise<void> {
  const arrived = performance.now();
  const loaded = deps.half();
  const input = await frontInput(req, loaded, deps.config.maxBodyBytes, route === 'v2');
  const preprocessed = performance.now();
  let activation: Float32Array;
  try {
    activation = await loaded.runner.run(input, true);
  } catch (e) {
    throw new InferenceError(`front half failed: ${(e as Error).message}`, { cause: e });
  }
  const frontDone = performance.now();
  // Sent as the header and a view of the activation, not joined into one copy.
  const wire = encodeTensorParts({
    activation: { dtype: 'F32', shape: [1, ...loaded.runner.outputShape], data: activation },
  });
  const response = await postBytes(
    deps.config.nextUrl!,
    {
      ...deps.callHeaders,
      'content-type': 'application/octet-stream',
      'ce-specversion': '1.0',
      'ce-type': ACTIVATION_EVENT,
      'ce-source': 'split-half/A',
      'ce-id': randomUUID(),
      'ce-cut': loaded.cut.layer,
    },
    wire,
    deps.config.timeoutMs,
  );
  const text = response.body.toString('utf8');
  if (response.status < 200 || response.status >= 300) {
    const why = (() => {
      try {
        return (JSON.parse(text) as { error?: string }).error ?? text;
      } catch {
        return text;
      }
    })();
    // B failing, refusing or absent: the request fails with 503 and says what B answered.
    throw new UnavailableError(`half B answered ${response.status}: ${why.slice(0, 300)}`);
  }
  const back = JSON.parse(text) as BackAnswer;
  const totalMs = performance.now() - arrived;
  const answer: SplitAnswer = {
    ...back,
    frontMs: frontDone - preprocessed,
    preprocessMs: preprocessed - arrived,
    totalMs,
    activationBytes: wire.reduce((n, part) => n + part.byteLength, 0),
  };
  if (route === 'predict') {
    const best = back.top[0];
    // The seed's /predict answer: seconds, like its Python time.time() differences.
    res.status(200).json({
      class_id: best?.class_id,
      class_name: best?.class_name,
      total_time: totalMs / 1000,
      inference_time_a: answer.frontMs / 1000,
      inference_time_b: back.backMs / 1000,
    });
    return;
  }
  res.status(200).json(answer);
}

async function serveBack(req: Request, res: Response, deps: HalfDeps): Promise<void> {
  const type = req.header('ce-type');
  if (type !== ACTIVATION_EVENT)
    throw new BadInputError(
      `half B takes a binary CloudEvent of type ${ACTIVATION_EVENT}, got ce-type "${type ?? ''}"`,
    );
  const loaded = deps.half();
  const raw = body(req, deps.config.maxBodyBytes);
  const { tensors } = decodeTensors(raw, { maxBytes: deps.config.maxBodyBytes });
  const activation = tensors.activation;
  const want = [1, ...loaded.runner.inputShape];
  if (!activation || activation.dtype !== 'F32')
    throw new BadInputError('the event body needs one F32 tensor named "activation"');
  if (JSON.stringify(activation.shape) !== JSON.stringify(want)) {
    throw new BadInputError(
      `activation shape ${JSON.stringify(activation.shape)} does not fit this half (cut ${loaded.cut.layer}): expected ${JSON.stringify(want)}`,
    );
  }
  const start = performance.now();
  let probabilities: Float32Array;
  try {
    // The body is read whole into a buffer of its own (not a slice of Node's small-buffer pool)
    // and is not read again: the engine may take it instead of a copy.
    const ownBuffer = raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength;
    probabilities = await loaded.runner.run(activation.data, ownBuffer);
  } catch (e) {
    throw new InferenceError(`back half failed: ${(e as Error).message}`, { cause: e });
  }
  const answer: BackAnswer = {
    top: topK(probabilities, deps.config.topK, loaded.labels),
    cut: loaded.cut.layer,
    backMs: performance.now() - start,
  };
  res.status(200).json(answer);
}

async function route(req: Request, res: Response, deps: HalfDeps): Promise<void> {
  const path = req.path.replace(/\/+$/, '') || '/';
  if (req.method === 'GET' && path === '/healthz') {
    deps.half();
    res.status(200).json({ status: 'ok' });
    return;
  }
  if (req.method === 'GET' && path === '/') {
    const loaded = deps.half();
    res.status(200).json({
      service: 'split-half',
      half: deps.config.half,
      cut: loaded.cut,
      engine: loaded.runner.engine,
      inputShape: loaded.runner.inputShape,
      outputShape: loaded.runner.outputShape,
    });
    return;
  }
  if (req.method !== 'POST') {
    res
      .status(405)
      .set('Allow', 'GET, POST')
      .json({ error: `${req.method} is not allowed here; POST`, code: 'method_not_allowed' });
    return;
  }
  if (deps.config.half === 'B') {
    if (path !== '/') throw new NotFoundError(`half B takes activation events at POST /, not ${path}`);
    await serveBack(req, res, deps);
    return;
  }
  if (path === '/predict') return serveFront(req, res, deps, 'predict');
  if (path === '/' || path === '/classify') return serveFront(req, res, deps, 'classify');
  if (/^\/v2\/models\/[^/]+\/infer$/.test(path)) return serveFront(req, res, deps, 'v2');
  throw new NotFoundError(
    `no route POST ${path}; POST an image to /predict or /classify, or a v2 tensor to /v2/models/split/infer`,
  );
}

export function createHalfHandler(deps: HalfDeps): Handler {
  return withErrors((req, res) => route(req, res, deps), deps.logger);
}
