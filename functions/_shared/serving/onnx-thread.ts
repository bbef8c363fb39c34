// ONNX Runtime sessions on a worker thread. The Node binding runs a session synchronously on the
// thread that calls `run` (its promise only defers the start), so a session on the event loop
// stops the pod from reading requests, answering, or sending what it computed for as long as a
// model runs: a split half could not pass one activation on while it computed the next. Here the
// event loop only posts the feeds (copied, their buffers moved, not cloned; moved outright when
// the caller hands them over, RunOptions.handOver) and receives the outputs (moved back).
// One thread per process holds every session, as the event loop did: runs go in arrival order,
// one at a time, each with ONNX Runtime's own intra-op threads, and a model costs no thread
// (about 9 MB each) of its own. The thread starts with the first session, holds the process open
// only while a call is in flight, and ends with the last session.
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

interface Reply {
  id: number;
  error?: string;
  out?: Record<string, HostTensor>;
  inputs?: ValueInfo[];
  outputs?: ValueInfo[];
}

// Plain JavaScript (the thread runs it as a CommonJS script, without the TypeScript loader).
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const loaded = require(workerData.ort);
const ort = 'InferenceSession' in loaded ? loaded : loaded.default;
const info = (list) => list.map((m) => ({ name: m.name, isTensor: m.isTensor, type: m.type, shape: m.isTensor ? [...m.shape] : [] }));
const message = (e) => (e instanceof Error ? e.message : String(e));
const sessions = new Map();
const sessionOf = (sid) => {
  const session = sessions.get(sid);
  if (!session) throw new Error('the model was disposed');
  return session;
};
parentPort.on('message', async (m) => {
  try {
    if (m.kind === 'open') {
      const session = await ort.InferenceSession.create(m.bytes, m.options);
      sessions.set(m.sid, session);
      parentPort.postMessage({ id: m.id, inputs: info(session.inputMetadata), outputs: info(session.outputMetadata) });
    } else if (m.kind === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(t.dtype, t.data, t.shape);
      const results = await sessionOf(m.sid).run(feeds);
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
      const session = sessions.get(m.sid);
      sessions.delete(m.sid);
      await session?.release();
      parentPort.postMessage({ id: m.id });
    }
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: message(e) });
  }
});
`;

/** The process's engine thread: every session's calls, answered by id. */
class EngineThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private nextId = 0;
  private nextSession = 0;
  private sessions = 0;
  stopped: Error | undefined;

  constructor() {
    const ort = createRequire(import.meta.url).resolve('onnxruntime-node');
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { ort } });
    this.worker.unref();
    this.worker.on('message', (reply: Reply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.error !== undefined) p.reject(new Error(reply.error));
      else p.resolve(reply);
    });
    this.worker.on('error', (e) => this.stop(new InferenceError(`the ONNX Runtime thread failed: ${e.message}`)));
    this.worker.on('exit', (code) => this.stop(new InferenceError(`the ONNX Runtime thread stopped (exit ${code})`)));
  }

  private stop(e: Error): void {
    this.stopped ??= e;
    for (const p of this.pending.values()) p.reject(this.stopped);
    this.pending.clear();
    if (shared === this) shared = undefined;
  }

  call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = ++this.nextId;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  /** A session id, counted until `closed`; the thread ends when the last one is. */
  opened(): number {
    this.sessions += 1;
    return ++this.nextSession;
  }

  async closed(): Promise<void> {
    this.sessions -= 1;
    if (this.sessions > 0) return;
    this.stop(new InferenceError('the ONNX Runtime thread was closed'));
    await this.worker.terminate();
  }
}

let shared: EngineThread | undefined;

function feedCopy(t: HostTensor, handOver: boolean): { transfer: ArrayBuffer[]; tensor: HostTensor } {
  if (!ArrayBuffer.isView(t.data)) return { transfer: [], tensor: t };
  // Handed over: the whole buffer moves, and the array arrives as the same view of it.
  if (handOver && t.data.buffer instanceof ArrayBuffer) return { transfer: [t.data.buffer], tensor: t };
  // A copy: the caller's array may be a view into a request body or a pooled Buffer.
  const data = t.data.slice() as TensorData & { buffer: ArrayBuffer };
  return { transfer: [data.buffer], tensor: { dtype: t.dtype, shape: [...t.shape], data } };
}

/** Creates `bytes` as a session on the engine thread; rejects with ONNX Runtime's message when it cannot. */
export async function openThreadSession(bytes: Uint8Array, options: object): Promise<ThreadSession> {
  const thread = (shared ??= new EngineThread());
  const sid = thread.opened();
  let opened: Reply;
  try {
    opened = await thread.call({ kind: 'open', sid, bytes, options });
  } catch (e) {
    await thread.closed();
    throw e;
  }
  let disposed: InferenceError | undefined;
  return {
    inputMetadata: opened.inputs ?? [],
    outputMetadata: opened.outputs ?? [],
    async run(feeds, options) {
      if (disposed) throw disposed;
      const moved: ArrayBuffer[] = [];
      const copies: Record<string, HostTensor> = {};
      for (const [name, t] of Object.entries(feeds)) {
        const { transfer, tensor } = feedCopy(t, options?.handOver === true);
        moved.push(...transfer);
        copies[name] = tensor;
      }
      return (await thread.call({ kind: 'run', sid, feeds: copies }, moved)).out ?? {};
    },
    async release() {
      if (disposed) return;
      disposed = new InferenceError('the model was disposed');
      await thread.call({ kind: 'release', sid }).catch(() => undefined);
      await thread.closed();
    },
  };
}
