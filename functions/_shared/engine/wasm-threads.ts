// Multi-threaded XNNPACK for the wasm rung in Node. TF.js ships a threaded-SIMD build but
// never uses it in Node, for three reasons this module works around:
//  1. the WASM_HAS_MULTITHREAD_SUPPORT flag is hard-wired to false under Node → we set it;
//  2. the pthread workers are started from a blob: URL, which Node's Worker rejects → while
//     the backend starts, worker_threads.Worker is wrapped so a blob: script runs the same
//     worker source with `eval`, and the module script it imports comes in its workerData;
//  3. the C++ side caps threads at (logical cores / 2), i.e. 1 on a 2-vCPU machine → while
//     the backend starts, os.cpus() reports twice the requested thread count.
// Both patches are undone as soon as the backend has started. The pthread workers stay
// unref'd, so they never keep a process alive.
import { createRequire } from 'node:module';
import os from 'node:os';
import workerThreads, { type WorkerOptions } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { BackendError } from '../errors.js';

const require = createRequire(import.meta.url);
const WASM_OUT = '@tensorflow/tfjs-backend-wasm/wasm-out/tfjs-backend-wasm-threaded-simd';

interface ThreadedBuild {
  /** The pthread worker's source. */
  workerSource: string;
  /** The Emscripten module script each worker evaluates before starting. */
  moduleScript: string;
}

function threadedBuild(): ThreadedBuild {
  const worker: unknown = require(`${WASM_OUT}.worker.js`);
  const factory: unknown = require(`${WASM_OUT}.js`);
  const contents =
    typeof worker === 'object' && worker !== null && 'wasmWorkerContents' in worker
      ? worker.wasmWorkerContents
      : undefined;
  if (typeof contents !== 'string' || typeof factory !== 'function') {
    throw new BackendError('the threaded wasm build of @tensorflow/tfjs-backend-wasm has an unexpected layout');
  }
  return {
    // The source is kept as a JS file with real newlines inside string literals; TF.js
    // escapes them before making a blob of it, and so do we.
    workerSource: contents.replace(/\n/g, '\\n'),
    moduleScript: `var WasmBackendModuleThreadedSimd = ${factory.toString()}`,
  };
}

// Appended to the worker source: scripts given as blob: URLs (the module script) are
// evaluated from workerData instead of being read from disk.
const WORKER_EPILOGUE = `;(function () {
  var script = require('worker_threads').workerData.kaskadeModuleScript;
  var importFile = global.importScripts;
  global.importScripts = function (f) {
    if (String(f).startsWith('blob:')) (0, eval)(script); else importFile(f);
  };
})();`;

/**
 * Starts TF.js's wasm backend with `threads` XNNPACK threads (1 = the single-threaded SIMD
 * build, untouched). Must run before the wasm backend is first initialised. Returns the
 * thread count the backend reports.
 */
export async function startThreadedWasm(threads: number, activate: () => Promise<void>): Promise<number> {
  if (!Number.isInteger(threads) || threads < 1)
    throw new BackendError(`wasm threads must be a positive integer, got ${threads}`);
  if (threads === 1) {
    await activate();
    return 1;
  }
  const build = threadedBuild();
  const NodeWorker = workerThreads.Worker;
  const realCpus = os.cpus;
  class PthreadWorker extends NodeWorker {
    constructor(file: string | URL, options?: WorkerOptions) {
      if (typeof file === 'string' && file.startsWith('blob:')) {
        super(build.workerSource + WORKER_EPILOGUE, {
          ...options,
          eval: true,
          workerData: { kaskadeModuleScript: build.moduleScript },
        });
      } else {
        super(file, options);
      }
    }

    // Emscripten refs a worker while it runs a pthread; XNNPACK's pool threads run forever,
    // so that would keep every process alive after its work is done.
    override ref(): void {
      // stays unref'd
    }
  }
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  setThreadsCount(threads);
  workerThreads.Worker = PthreadWorker;
  os.cpus = () => {
    const cpus = realCpus();
    return Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length]).filter(
      (c): c is os.CpuInfo => c !== undefined,
    );
  };
  try {
    await activate();
  } finally {
    workerThreads.Worker = NodeWorker;
    os.cpus = realCpus;
  }
  return getThreadsCount();
}
