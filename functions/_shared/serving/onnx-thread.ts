// An ONNX Runtime session on a worker thread of its own. The Node binding runs a session
// synchronously on the thread that calls `run` (its promise only defers the start), so a session
// on the event loop stops the pod from reading requests, answering, or sending what it computed
// for as long as a model runs: a split half could not pass one activation on while it computed
// the next. Here the event loop only posts the feeds (copied, their buffers moved, not cloned)
// and receives the outputs (moved back). One thread per session, runs in arrival order.
// A caller that hands its feeds over (RunOptions.handOver) has them moved, not copied.
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { InferenceError } from '../errors.js';
import type { HostTensor, RunOptions, TensorData } from './types.js';

/** What ONNX Runtime says of an input or output, as plain data. */
export interface ValueInfo {
  name: string;
  isTensor: boolean;
  type: string;
  shape: Array<number | string>;
}

export interface ThreadSession {
  readonly inputMetadata: readonly ValueInfo[];
  readonly outputMetadata: readonly ValueInfo[];
  run(feeds: Readonly<Record<string, HostTensor>>, options?: RunOptions): Promise<Record<string, HostTensor>>;
  release(): Promise<void>;
}

type Reply = {
  id: number;
  error?: string;
  out?: Record<string, HostTensor>;
  inputs?: ValueInfo[];
  outputs?: ValueInfo[];
};

// Plain JavaScript (the thread runs it as a CommonJS script, without the TypeScript loader).
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const loaded = require(workerData.ort);
const ort = 'InferenceSession' in loaded ? loaded : loaded.default;
const info = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.isTensor ? [...m.shape] : [] }));
const message = (e) => (e instanceof Error ? e.message : String(e));
let session;
parentPort.on('message', async (m) => {
  try {
    if (m.kind === 'open') {
      session = await ort.InferenceSession.create(m.bytes, m.options);
      parentPort.postMessage({ id: m.id, inputs: info(session.inputMetadata), outputs: info(session.outputMetadata) });
    } else if (m.kind === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
      const results = await session.run(feeds);
      const out = {};
      const moved = [];
      for (const [name, t] of Object.entries(results)) {
        if (ArrayBuffer.isView(t.data)) moved.push(t.data.buffer);
        out[name] = { dtype: t.type, shape: [...t.dims], data: t.data };
      }
      try {
        parentPort.postMessage({ id: m.id, out }, moved);
      } catch {
        // A buffer ONNX Runtime keeps cannot move: fresh copies can.
        const copies = [];
        for (const t of Object.values(out)) if (ArrayBuffer.isView(t.data)) { t.data = t.data.slice(); copies.push(t.data.buffer); }
        parentPort.postMessage({ id: m.id, out }, copies);
      }
    } else if (m.kind === 'release') {
      await session?.release();
      session = undefined;
      parentPort.postMessage({ id: m.id });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: message(e) });
  }
});
`;

function feedCopy(t: HostTensor, handOver: boolean): { transfer: ArrayBuffer[]; tensor: HostTensor } {
  if (!ArrayBuffer.isView(t.data)) return { transfer: [], tensor: t };
  // Handed over: the whole buffer moves, and the array arrives as the same view of it.
  if (handOver && t.data.buffer instanceof ArrayBuffer) return { transfer: [t.data.buffer], tensor: t };
  // A copy: the caller's array may be a view into a request body or a pooled Buffer.
  const data = t.data.slice() as TensorData & { buffer: ArrayBuffer };
  return { transfer: [data.buffer], tensor: { dtype: t.dtype, shape: [...t.shape], data } };
}

/**
 * Creates `bytes` as a session on a new thread; rejects with ONNX Runtime's message when it
 * cannot. The thread holds the process open only while a call is in flight.
 */
export async function openThreadSession(bytes: Uint8Array, options: object): Promise<ThreadSession> {
  const ort = createRequire(import.meta.url).resolve('onnxruntime-node');
  const worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { ort } });
  worker.unref();
  const pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  let next = 0;
  let stopped: Error | undefined;
  const stop = (e: Error): void => {
    stopped ??= e;
    for (const p of pending.values()) p.reject(stopped);
    pending.clear();
  };
  worker.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    pending.delete(reply.id);
    if (pending.size === 0) worker.unref();
    if (reply.error !== undefined) p.reject(new Error(reply.error));
    else p.resolve(reply);
  });
  worker.on('error', (e) => stop(new InferenceError(`the ONNX Runtime thread failed: ${e.message}`, { cause: e })));
  worker.on('exit', (code) => stop(new InferenceError(`the ONNX Runtime thread stopped (exit code ${code})`)));
  const call = (message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> => {
    if (stopped) return Promise.reject(stopped);
    const id = ++next;
    return new Promise<Reply>((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...message, id }, transfer);
    });
  };
  let opened: Reply;
  try {
    opened = await call({ kind: 'open', bytes, options });
  } catch (e) {
    await worker.terminate();
    throw e;
  }
  return {
    inputMetadata: opened.inputs ?? [],
    outputMetadata: opened.outputs ?? [],
    async run(feeds, options) {
      const moved: ArrayBuffer[] = [];
      const copies: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        const { transfer, tensor } = feedCopy(t, options?.handOver === true);
        moved.push(...transfer);
        copies[name] = tensor;
      }
      return (await call({ kind: 'run', feeds: copies }, moved)).out ?? {};
    },
    async release() {
      if (!stopped) await call({ kind: 'release' }).catch(() => undefined);
      stop(new InferenceError('the model was disposed'));
      await worker.terminate();
    },
  };
}
