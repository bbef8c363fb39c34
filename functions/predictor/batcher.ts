// Adaptive request batching (the KServe batcher's `maxBatchSize` / `maxLatency`, inside the
// predictor): validated requests that queue while the model is busy are concatenated along the
// batch axis into one model call, and each gets its own rows back. One batch runs at a time.
//
// When to start a batch, with the model idle and requests queued:
// - always after one turn of the event loop, so requests already received join the first one;
// - at once (on that turn) when the batch is full or no more requests are expected;
// - otherwise it waits, at most `maxLatencyMs` after its oldest request was queued, for as many
//   requests as were outstanding around the previous batch (the concurrency clients showed).
// A lone client therefore never waits; after a burst, the first lone request waits once.
//
// A batch holds requests for one model (a hot reload never mixes the old and new model) and one
// input signature (dtype and instance shape), and one registry lease on that model. Validation
// happens per request before `submit`, so a bad request never reaches a batch; if the model call
// itself fails, every request in that batch fails with the same InferenceError (500).
import { InferenceError } from '../_shared/errors.js';
import type { Lease } from './model-registry.js';
import type { Probabilities } from './run-model.js';
import type { ModelBatch } from './tensor-input.js';

export interface BatcherOptions<M> {
  /** Most instances in one model call; a single larger request still runs, alone. */
  readonly maxBatchSize: number;
  /** Longest the oldest queued request waits for others while the model is idle (ms). */
  readonly maxLatencyMs: number;
  /** Runs one batch on one model; its rows are the batch's rows, in order. */
  readonly run: (model: M, batch: ModelBatch) => Promise<Probabilities>;
}

export interface BatcherStats {
  /** Model calls made. */
  readonly batches: number;
  /** Requests answered (or failed) by those calls. */
  readonly requests: number;
  /** Most instances in one call. */
  readonly largestBatch: number;
}

interface Queued<M> {
  readonly lease: Lease<M>;
  readonly batch: ModelBatch;
  /** dtype and instance shape: only requests with the same signature share a batch. */
  readonly signature: string;
  readonly n: number;
  readonly queuedAt: number;
  readonly resolve: (p: Probabilities) => void;
  readonly reject: (e: unknown) => void;
}

export class Batcher<M> {
  readonly #options: BatcherOptions<M>;
  #queue: Queued<M>[] = [];
  #running = false;
  #wake: NodeJS.Immediate | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Requests submitted and not yet answered. */
  #outstanding = 0;
  /** Most requests outstanding at once since the last batch started: how many to wait for. */
  #peak = 0;
  #batches = 0;
  #requests = 0;
  #largest = 0;

  constructor(options: BatcherOptions<M>) {
    if (!Number.isInteger(options.maxBatchSize) || options.maxBatchSize < 1)
      throw new RangeError(`maxBatchSize must be a positive integer, got ${options.maxBatchSize}`);
    if (!(options.maxLatencyMs >= 0)) throw new RangeError(`maxLatencyMs must be ≥ 0, got ${options.maxLatencyMs}`);
    this.#options = options;
  }

  /**
   * Queues one validated request and answers its rows. Takes over `lease`: it is released once
   * the request's batch no longer needs the model (releasing it again is harmless).
   */
  submit(lease: Lease<M>, batch: ModelBatch): Promise<Probabilities> {
    const n = batch.shape[0] ?? 0;
    return new Promise<Probabilities>((resolve, reject) => {
      this.#queue.push({
        lease,
        batch,
        signature: signatureOf(batch),
        n,
        queuedAt: performance.now(),
        resolve,
        reject,
      });
      this.#outstanding++;
      this.#peak = Math.max(this.#peak, this.#outstanding);
      this.#schedule();
    });
  }

  stats(): BatcherStats {
    return { batches: this.#batches, requests: this.#requests, largestBatch: this.#largest };
  }

  /** Decides, after any change, whether the next batch starts on the next turn, later, or not yet. */
  #schedule(): void {
    if (this.#running || this.#wake !== undefined) return;
    const head = this.#queue[0];
    if (!head) return;
    const { requests, instances } = this.#measureGroup(head);
    const { maxBatchSize, maxLatencyMs } = this.#options;
    const waitMs = maxLatencyMs - (performance.now() - head.queuedAt);
    const full = instances >= maxBatchSize;
    const expectingMore = requests < Math.min(this.#peak, maxBatchSize);
    if (!full && expectingMore && waitMs > 0) {
      if (this.#timer === undefined) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.#startSoon();
        }, waitMs);
      }
      return;
    }
    this.#startSoon();
  }

  /** Starts the next batch after one event-loop turn, so requests already received can join. */
  #startSoon(): void {
    if (this.#running || this.#wake !== undefined) return;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake = setImmediate(() => {
      this.#wake = undefined;
      void this.#runNext();
    });
  }

  /** How many queued requests (and instances) would share the head's batch. */
  #measureGroup(head: Queued<M>): { requests: number; instances: number } {
    let requests = 0;
    let instances = 0;
    for (const q of this.#queue) {
      if (!sameGroup(q, head)) continue;
      if (requests > 0 && instances + q.n > this.#options.maxBatchSize) break;
      requests++;
      instances += q.n;
    }
    return { requests, instances };
  }

  /** Takes the head request and, in arrival order, the queued ones that fit beside it. */
  #takeGroup(): Queued<M>[] {
    const [head] = this.#queue;
    if (!head) return [];
    const taken: Queued<M>[] = [];
    const kept: Queued<M>[] = [];
    let instances = 0;
    let open = true;
    for (const q of this.#queue) {
      if (open && sameGroup(q, head) && (taken.length === 0 || instances + q.n <= this.#options.maxBatchSize)) {
        taken.push(q);
        instances += q.n;
      } else {
        if (sameGroup(q, head)) open = false; // keep arrival order within a group
        kept.push(q);
      }
    }
    this.#queue = kept;
    return taken;
  }

  async #runNext(): Promise<void> {
    const group = this.#takeGroup();
    const [first, ...rest] = group;
    if (!first) return;
    this.#running = true;
    this.#peak = this.#outstanding;
    // The batch holds one lease; the others are on the same model, so they can go now.
    for (const q of rest) q.lease.release();
    const total = group.reduce((sum, q) => sum + q.n, 0);
    try {
      const joined = group.length === 1 ? first.batch : concatBatches(group.map((q) => q.batch));
      const p = await this.#options.run(first.lease.model, joined);
      if (p.n !== total) throw new InferenceError(`the model answered ${p.n} rows for ${total} instances`);
      let row = 0;
      for (const q of group) {
        q.resolve(sliceRows(p, row, q.n));
        row += q.n;
      }
    } catch (cause) {
      const error =
        cause instanceof InferenceError
          ? cause
          : new InferenceError(
              `running the model on a batch of ${total} instances (${group.length} requests) failed: ${(cause as Error).message}`,
              { cause },
            );
      for (const q of group) q.reject(error);
    } finally {
      first.lease.release();
      this.#outstanding -= group.length;
      this.#batches++;
      this.#requests += group.length;
      this.#largest = Math.max(this.#largest, total);
      this.#running = false;
      this.#schedule();
    }
  }
}

function signatureOf(batch: ModelBatch): string {
  return `${batch.dtype}[${batch.shape.slice(1).join(',')}]`;
}

function sameGroup<M>(a: Queued<M>, b: Queued<M>): boolean {
  return a.lease.model === b.lease.model && a.signature === b.signature;
}

/** Batches with one signature, stacked along the batch axis. */
export function concatBatches(batches: readonly ModelBatch[]): ModelBatch {
  const [first] = batches;
  if (!first) throw new RangeError('no batches to concatenate');
  const n = batches.reduce((sum, b) => sum + (b.shape[0] ?? 0), 0);
  const length = batches.reduce((sum, b) => sum + b.values.length, 0);
  const shape = [n, ...first.shape.slice(1)];
  if (first.dtype === 'float32') {
    const values = new Float32Array(length);
    let at = 0;
    for (const b of batches) {
      if (b.dtype !== 'float32') throw new RangeError('cannot batch float32 and int32 inputs together');
      values.set(b.values, at);
      at += b.values.length;
    }
    return { dtype: 'float32', shape, values };
  }
  const values = new Int32Array(length);
  let at = 0;
  for (const b of batches) {
    if (b.dtype !== 'int32') throw new RangeError('cannot batch float32 and int32 inputs together');
    values.set(b.values, at);
    at += b.values.length;
  }
  return { dtype: 'int32', shape, values };
}

/** Rows `[start, start + n)` of `p` (a view, no copy). */
export function sliceRows(p: Probabilities, start: number, n: number): Probabilities {
  return { n, classes: p.classes, values: p.values.subarray(start * p.classes, (start + n) * p.classes) };
}
