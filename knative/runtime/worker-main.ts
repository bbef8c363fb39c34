// Entry of one worker process (one "pod" of a service) when TypeScript runs through tsx:
// `node --import tsx knative/runtime/worker-main.ts` with FUNCTION_TARGET and PORT set.
// The runtime's default, faster path runs a prebuilt bundle of the same code (build.ts).
import { pathToFileURL } from 'node:url';
import { runWorker } from './worker-server.js';

await runWorker(process.env, (path) => import(pathToFileURL(path).href));
