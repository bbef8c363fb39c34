// Calls to one layer service (the layer controller's, and tests'). Every call has a timeout.
// Only idempotent calls are retried, and all of these are: forward (the same micro-batch
// replaces what the layer kept), backward (a layer answers a repeated micro-batch with its first
// answer and adds nothing twice), apply (a step applies once), initialize, save, load, discard,
// weights. A call that may have reached the layer is retried only after a connection failure,
// a timeout or a 5xx. A layer's 400 stays a 400 (bad input the caller sent), 404/409 keep their meaning,
// anything else fails the step as an UnavailableError naming the layer.
import {
  BadInputError,
  ConflictError,
  NotFoundError,
  TimeoutError,
  UnavailableError,
} from '../functions/_shared/errors.js';
import { fetchWithTimeout } from '../functions/_shared/http.js';
import { SAFETENSORS_CONTENT_TYPE } from './catalog.js';
import { LAYER_EVENT_TYPES, layerEventHeaders, type MicrobatchRef } from './layers.js';

const SOURCE = '/kaskade/layer-controller';

export interface LayerEndpoint {
  readonly index: number;
  /** The layer's service name. */
  readonly name: string;
  /** Base URL, no trailing slash. */
  readonly url: string;
}

export interface ClientOptions {
  readonly timeoutMs: number;
  /** Extra attempts of an idempotent call after a connection failure, timeout or 5xx. */
  readonly retries: number;
  /** Sent with every call (the shared bearer token, when the layer services require one). */
  readonly headers?: Readonly<Record<string, string>>;
}

export class LayerClient {
  constructor(
    readonly endpoint: LayerEndpoint,
    private readonly options: ClientOptions,
  ) {}

  forward(ref: MicrobatchRef, body: Uint8Array, training = true): Promise<Uint8Array> {
    const headers = layerEventHeaders(LAYER_EVENT_TYPES.forwardRequested, SOURCE, ref, { training: String(training) });
    return this.bytes('/forward', { method: 'POST', headers, body }, true);
  }

  backward(ref: MicrobatchRef, body: Uint8Array, inputGrad: boolean): Promise<Uint8Array> {
    const headers = layerEventHeaders(LAYER_EVENT_TYPES.backwardRequested, SOURCE, ref, {
      inputgrad: String(inputGrad),
    });
    return this.bytes('/backward', { method: 'POST', headers, body }, true);
  }

  async apply(jobId: string, step: number, microbatches: number, learningRate?: number): Promise<void> {
    await this.json('/apply', {
      job_id: jobId,
      step,
      microbatches,
      ...(learningRate === undefined ? {} : { learning_rate: learningRate }),
    });
  }

  async discard(jobId: string, step: number): Promise<void> {
    await this.json('/discard', { job_id: jobId, step });
  }

  async initialize(jobId: string, seed: number, optimizer: unknown, type: string, config: unknown): Promise<void> {
    await this.json('/initialize', { job_id: jobId, seed, optimizer, type, config });
  }

  save(jobId: string): Promise<unknown> {
    return this.json('/save', { job_id: jobId });
  }

  load(jobId: string): Promise<unknown> {
    return this.json('/load', { job_id: jobId });
  }

  getWeights(jobId: string): Promise<Uint8Array> {
    return this.bytes(`/weights?job_id=${encodeURIComponent(jobId)}`, { method: 'GET' }, true);
  }

  async putWeights(jobId: string, body: Uint8Array): Promise<void> {
    await this.bytes(
      `/weights?job_id=${encodeURIComponent(jobId)}`,
      { method: 'PUT', headers: { 'content-type': SAFETENSORS_CONTENT_TYPE }, body },
      true,
    );
  }

  private async json(path: string, body: unknown): Promise<unknown> {
    const bytes = await this.bytes(
      path,
      { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) },
      true,
    );
    return JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
  }

  private async bytes(
    path: string,
    init: { method: string; headers?: Record<string, string>; body?: Uint8Array | string },
    idempotent: boolean,
  ): Promise<Uint8Array> {
    const attempts = idempotent ? 1 + this.options.retries : 1;
    let last: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        return await this.once(path, init);
      } catch (e) {
        last = e;
        if (!(e instanceof UnavailableError) && !(e instanceof TimeoutError)) throw e;
      }
    }
    throw last;
  }

  private async once(
    path: string,
    init: { method: string; headers?: Record<string, string>; body?: Uint8Array | string },
  ): Promise<Uint8Array> {
    const { name, url, index } = this.endpoint;
    const what = `layer ${index} (${name}) ${init.method} ${path.split('?')[0] ?? path}`;
    const body = typeof init.body === 'string' || init.body === undefined ? init.body : exactBytes(init.body);
    let response: globalThis.Response;
    let bytes: Uint8Array;
    try {
      response = await fetchWithTimeout(
        `${url}${path}`,
        {
          method: init.method,
          headers: { ...this.options.headers, ...init.headers },
          ...(body === undefined ? {} : { body }),
        },
        this.options.timeoutMs,
      );
      bytes = new Uint8Array(await response.arrayBuffer());
    } catch (e) {
      if (e instanceof TimeoutError) throw new TimeoutError(`${what}: ${e.message}`, { cause: e });
      throw new UnavailableError(`${what} failed: ${(e as Error).message}`, { cause: e });
    }
    if (response.ok) return bytes;
    const message = `${what} answered ${response.status}: ${errorText(bytes)}`;
    if (response.status === 400) throw new BadInputError(message);
    if (response.status === 404) throw new NotFoundError(message);
    if (response.status === 409) throw new ConflictError(message);
    throw new UnavailableError(message);
  }
}

function errorText(bytes: Uint8Array): string {
  const text = Buffer.from(bytes).toString('utf8');
  try {
    const parsed = JSON.parse(text) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: the text itself says what went wrong
  }
  return text.slice(0, 300);
}

function exactBytes(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const { buffer } = bytes;
  return buffer instanceof ArrayBuffer
    ? new Uint8Array(buffer, bytes.byteOffset, bytes.byteLength)
    : new Uint8Array(bytes);
}
