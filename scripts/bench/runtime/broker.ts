// Broker benchmark, called by `npm run bench -- runtime`: throughput to a no-op subscriber
// (events/s from the first post to the last delivery, journal on, default durability) and
// end-to-end delivery latency (post → subscriber arrival) of events sent one at a time.
// Load generator, broker and subscriber share one process, so the figure includes their cost.
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../../functions/_shared/log.js';
import { startBroker } from '../../../events/broker/broker.js';
import type { BrokerObserver } from '../../../events/broker/observer.js';
import { startSubscriber } from '../../../test/fakes/subscriber.js';

export interface BrokerBenchResult {
  brokerEventsPerSec: number;
  /**
   * CPU time (user + system) this process spent per event of the throughput run: broker, load
   * generator and subscriber together. Unlike events/s it barely moves with other work on the machine.
   */
  cpuMsPerEvent: number;
  deliveryP50Ms: number;
  deliveryP99Ms: number;
}

export interface BrokerBenchOptions {
  readonly events?: number;
  readonly concurrency?: number;
  readonly latencyEvents?: number;
  /** fdatasync every journal batch (off by default, as in the broker). */
  readonly fsync?: boolean;
  /** The runtime's metrics, when measuring with observability on. */
  readonly observer?: BrokerObserver;
}

/** Every event carries a trace context, as events from Kaskade's functions do. */
const TRACEPARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

const quiet: Logger = { info: () => undefined, warn: () => undefined, error: () => undefined };

function percentile(sorted: readonly number[], p: number): number {
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}

function postEvent(agent: http.Agent, url: URL, id: string, body: Buffer): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: {
          'ce-specversion': '1.0',
          'ce-id': id,
          'ce-source': '/kaskade/bench',
          'ce-type': 'dev.kaskade.bench.sent',
          'ce-traceparent': TRACEPARENT,
          'content-type': 'application/json',
          'content-length': body.byteLength,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.setTimeout(10_000, () => req.destroy(new Error(`POST ${url.href} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function benchBroker(options: BrokerBenchOptions = {}): Promise<BrokerBenchResult> {
  const total = options.events ?? 10_000;
  const concurrency = options.concurrency ?? 32;
  const latencyEvents = options.latencyEvents ?? 1000;
  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  let delivered = 0;
  let onDelivered: (() => void) | undefined;
  const subscriber = await startSubscriber((request) => {
    const id = String(request.headers['ce-id']);
    const t0 = sentAt.get(id);
    if (t0 !== undefined) latencies.push(request.at - t0);
    delivered++;
    onDelivered?.();
    return { status: 204 };
  }, false);
  const stateDir = await mkdtemp(join(tmpdir(), 'kaskade-bench-broker-'));
  const broker = await startBroker({
    namespace: 'bench',
    brokers: [{ name: 'default' }],
    triggers: [
      {
        name: 'noop',
        broker: 'default',
        filter: { attributes: { type: 'dev.kaskade.bench.sent' } },
        subscriberUri: subscriber.url,
      },
    ],
    stateDir,
    fsync: options.fsync ?? false,
    logger: quiet,
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL(broker.url('bench', 'default'));
  const body = Buffer.from(
    JSON.stringify({ jobId: 'bench', round: 1, shardIndex: 0, weightsUrl: 'file:///tmp/w.safetensors' }),
  );
  const untilDelivered = (count: number) =>
    new Promise<void>((resolve) => {
      onDelivered = () => {
        if (delivered >= count) resolve();
      };
      onDelivered();
    });

  try {
    const run = async (prefix: string, count: number, lanes: number) => {
      let next = 0;
      await Promise.all(
        Array.from({ length: lanes }, async () => {
          while (next < count) {
            const id = `${prefix}-${next++}`;
            const status = await postEvent(agent, url, id, body);
            if (status !== 202) throw new Error(`broker answered ${status}`);
          }
        }),
      );
    };
    await run('warm', 500, concurrency);
    await untilDelivered(500);

    const started = performance.now();
    const cpu = process.cpuUsage();
    await run('load', total, concurrency);
    await untilDelivered(500 + total);
    const brokerEventsPerSec = total / ((performance.now() - started) / 1000);
    const used = process.cpuUsage(cpu);
    const cpuMsPerEvent = (used.user + used.system) / 1000 / total;

    for (let i = 0; i < latencyEvents; i++) {
      const id = `lat-${i}`;
      sentAt.set(id, performance.now());
      const arrived = untilDelivered(500 + total + i + 1);
      await postEvent(agent, url, id, body);
      await arrived;
    }
    latencies.sort((a, b) => a - b);
    return {
      brokerEventsPerSec: Math.round(brokerEventsPerSec),
      cpuMsPerEvent,
      deliveryP50Ms: percentile(latencies, 50),
      deliveryP99Ms: percentile(latencies, 99),
    };
  } finally {
    agent.destroy();
    await broker.close();
    await subscriber.close();
    await rm(stateDir, { recursive: true, force: true });
  }
}
