// `npm run bench -- kube-api [--services 10] [--requests 300] [--json]`: the runtime's
// Kubernetes API. Create-to-Ready of a new ksvc (POST → Ready=True, through
// @kubernetes/client-node and the Cluster interface), scale-from-zero of that service afterwards,
// and get/list/patch latency (p50) through the Cluster interface with 1 and 16 concurrent
// callers (one Cluster, whose kept-alive agent holds a connection per caller in flight). Baselines measured in the
// same run: a worker's own cold start (scale-from-zero of a manifest service) for create-to-Ready,
// and GET /version on a kept-alive TLS connection for get/list/patch. With --json the last line
// holds every figure.
import { Agent, request } from 'node:https';
import { Command } from 'commander';
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { kubeCluster } from '../../functions/_shared/cluster/kube.js';
import type { KnativeService } from '../../functions/_shared/cluster/types.js';
import { startKubeRuntime, type KubeRuntime } from '../../test/support/kube-runtime.js';
import { percentile } from './runtime/scale.js';

const ref = { group: 'serving.knative.dev', version: 'v1', namespace: 'default', plural: 'services' };

function service(name: string): KnativeService {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/initial-scale': '1' } },
        spec: { containers: [{ image: 'kaskade', env: [{ name: 'FUNCTION_TARGET', value: 'echo' }] }] },
      },
    },
  };
}

export async function main(argv: string[]): Promise<void> {
  const o = new Command('kube-api')
    .option('--services <n>', 'services created (create-to-Ready and scale-from-zero samples)', '10')
    .option('--requests <n>', 'requests per operation and concurrency', '300')
    .option('--json', 'print the result as JSON on the last line', false)
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<{ services: string; requests: string; json: boolean }>();
  const services = Number(o.services);
  const requests = Number(o.requests);
  if (!Number.isInteger(services) || services < 1 || !Number.isInteger(requests) || requests < 16)
    throw new Error('--services must be ≥ 1 and --requests ≥ 16');
  const note = (line: string): void => void process.stderr.write(`${line}\n`);

  const kr = await startKubeRuntime({ kpa: { stableWindowMs: 1_000, tickMs: 100 } });
  try {
    const kc = kr.admin();
    const cluster = kubeCluster(kc, 'default');
    const custom = kc.makeApiClient(CustomObjectsApi);

    const coldBaseline = await coldStarts(kr, 'echo', services, note);
    const createToReady: number[] = [];
    const fromZero: number[] = [];
    for (let i = 0; i < services; i++) {
      const name = `bench-${i}`;
      const t0 = performance.now();
      await custom.createNamespacedCustomObject({ ...ref, body: service(name) });
      await cluster.waitReady(name, { timeoutMs: 60_000 });
      createToReady.push(performance.now() - t0);
      note(`create-to-Ready ${name}: ${createToReady.at(-1)?.toFixed(0) ?? ''} ms`);
    }
    for (let i = 0; i < services; i++) fromZero.push(...(await coldStarts(kr, `bench-${i}`, 1, note)));

    const baseline = await keptAliveVersion(kc, requests);
    // Through the Cluster interface, as functions call it (one kept-alive TLS connection per client).
    const ops: Record<string, () => Promise<unknown>> = {
      get: () => cluster.getService('bench-0'),
      list: () => cluster.listServices(),
      patch: () => cluster.patchAnnotations('bench-0', { 'bench.kaskade.dev/n': String(Math.random()) }),
    };
    const latency: Record<string, number> = {};
    for (const [op, call] of Object.entries(ops)) {
      for (const clients of [1, 16]) {
        latency[`${op}P50Ms_${clients}`] = percentile(await concurrently(call, clients, requests), 50);
        note(`${op} × ${clients} clients: p50 ${latency[`${op}P50Ms_${clients}`]?.toFixed(2) ?? ''} ms`);
      }
    }

    const r = {
      createToReadyP50Ms: percentile(createToReady, 50),
      createToReadyP95Ms: percentile(createToReady, 95),
      coldStartBaselineP50Ms: percentile(coldBaseline, 50),
      scaleFromZeroP50Ms: percentile(fromZero, 50),
      scaleFromZeroP95Ms: percentile(fromZero, 95),
      versionKeepAliveP50Ms: baseline,
      ...latency,
    };
    const ms = (v: number | undefined, digits = 0): string => `${(v ?? Number.NaN).toFixed(digits)} ms`;
    const ratio = (v: number | undefined, base: number): string => `${((v ?? Number.NaN) / base).toFixed(2)}×`;
    const rows: Array<[string, string, string, string]> = [
      [
        'create-to-Ready p50',
        ms(r.createToReadyP50Ms),
        `${ratio(r.createToReadyP50Ms, r.coldStartBaselineP50Ms)} worker cold start`,
        '≤ 1000 ms',
      ],
      [
        'create-to-Ready p95',
        ms(r.createToReadyP95Ms),
        `${ratio(r.createToReadyP95Ms, r.coldStartBaselineP50Ms)} worker cold start`,
        '',
      ],
      ['worker cold start p50 (baseline)', ms(r.coldStartBaselineP50Ms), '1.00×', ''],
      [
        'scale-from-zero after create p50',
        ms(r.scaleFromZeroP50Ms),
        `${ratio(r.scaleFromZeroP50Ms, r.coldStartBaselineP50Ms)} worker cold start`,
        '',
      ],
      [
        'scale-from-zero after create p95',
        ms(r.scaleFromZeroP95Ms),
        `${ratio(r.scaleFromZeroP95Ms, r.coldStartBaselineP50Ms)} worker cold start`,
        '',
      ],
      ['GET /version kept-alive p50 (baseline)', ms(baseline, 2), '1.00×', ''],
      ...Object.entries(latency).map(([k, v]): [string, string, string, string] => {
        const [op, clients] = k.split('P50Ms_');
        return [
          `${op ?? ''} p50, ${clients ?? ''} client(s), Cluster`,
          ms(v, 2),
          `${ratio(v, baseline)} /version`,
          op === 'get' ? '≤ 2 ms' : '',
        ];
      }),
    ];
    process.stdout.write(
      `| measure | value | ratio | target |\n|---|---|---|---|\n${rows.map((row) => `| ${row.join(' | ')} |`).join('\n')}\n`,
    );
    if (o.json)
      process.stdout.write(
        `${JSON.stringify(Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Math.round(v * 100) / 100])))}\n`,
      );
  } finally {
    await kr.close();
  }
}

/** `samples` times: wait until the service has no pod, send one request through the ingress, time the answer. */
async function coldStarts(
  kr: KubeRuntime,
  name: string,
  samples: number,
  note: (l: string) => void,
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const deadline = Date.now() + 60_000;
    while ((kr.runtime.status().services.find((s) => s.name === name)?.pods.length ?? 0) > 0) {
      if (Date.now() > deadline) throw new Error(`${name} did not scale to zero`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const t0 = performance.now();
    const res = await fetch(`${kr.runtime.url(name)}/`, { signal: AbortSignal.timeout(30_000) });
    await res.arrayBuffer();
    if (res.status !== 200) throw new Error(`${name} answered ${res.status}`);
    out.push(performance.now() - t0);
    note(`scale-from-zero ${name}: ${out.at(-1)?.toFixed(0) ?? ''} ms`);
  }
  return out;
}

/** Latencies of `total` calls made by `clients` callers at once. */
async function concurrently(call: () => Promise<unknown>, clients: number, total: number): Promise<number[]> {
  // Warm up at the same concurrency, so every connection's TLS handshake is done before timing.
  await Promise.all(
    Array.from({ length: clients }, async () => {
      for (let i = 0; i < 5; i++) await call();
    }),
  );
  const out: number[] = [];
  let left = total;
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (left > 0) {
        left -= 1;
        const t0 = performance.now();
        await call();
        out.push(performance.now() - t0);
      }
    }),
  );
  return out;
}

/** p50 of GET /version on one kept-alive TLS connection: the server's floor. */
async function keptAliveVersion(kc: KubeConfig, requests: number): Promise<number> {
  const opts: { ca?: Buffer | string; headers?: Record<string, string> } = {};
  await kc.applyToHTTPSOptions(opts);
  const server = new URL(kc.getCurrentCluster()?.server ?? '');
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ...(opts.ca !== undefined ? { ca: opts.ca } : {}) });
  const once = (): Promise<number> =>
    new Promise((resolveOnce, reject) => {
      const t0 = performance.now();
      const req = request(
        { hostname: server.hostname, port: server.port, path: '/version', agent, headers: opts.headers ?? {} },
        (res) => {
          res.resume();
          res.once('end', () => resolveOnce(performance.now() - t0));
        },
      );
      req.setTimeout(10_000, () => req.destroy(new Error('GET /version timed out')));
      req.once('error', reject);
      req.end();
    });
  try {
    for (let i = 0; i < 20; i++) await once();
    const samples: number[] = [];
    for (let i = 0; i < requests; i++) samples.push(await once());
    return percentile(samples, 50);
  } finally {
    agent.destroy();
  }
}
