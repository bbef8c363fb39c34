// The process a pod runs: `node --import tsx functions/_main/main.ts` with FUNCTION_TARGET and
// PORT set (the image's CMD; the local runtime's workers start the same entry, or a prebuilt
// bundle of it). The only module here that reads the process environment and exits.
import { pathToFileURL } from 'node:url';
import { runWorker } from './server.js';

await runWorker(process.env, (path) => import(pathToFileURL(path).href));
