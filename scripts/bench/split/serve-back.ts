// Benchmark helper: half B of the split benchmark in its own process (so the halves run in
// parallel, as two pods do), the real split-half handler on a loopback port. Prints the port.
import { http } from '@google-cloud/functions-framework';
import { getTestServer } from '@google-cloud/functions-framework/testing';
import type { AddressInfo } from 'node:net';
import { initEngine } from '../../../functions/_shared/engine/index.js';
import { loadHalf } from '../../../functions/split-half/halves.js';
import { createHalfHandler } from '../../../functions/split-half/service.js';

const { tf } = await initEngine();
const loaded = await loadHalf(
  tf,
  { model: process.env.MODEL_URI ?? 'resnet50', seed: 7, cut: process.env.SPLIT_CUT ?? 'v2' },
  'B',
);
http(
  'split-back',
  createHalfHandler({
    config: { half: 'B', nextUrl: undefined, timeoutMs: 60_000, maxBodyBytes: 64 << 20, topK: 5 },
    half: () => loaded,
  }),
);
const server = getTestServer('split-back');
// The bench's client is often busy for seconds between requests (the monolithic runs); keep its connection.
server.keepAliveTimeout = 600_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`PORT ${(server.address() as AddressInfo).port}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
