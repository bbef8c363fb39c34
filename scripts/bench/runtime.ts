// `npm run bench -- runtime [--cold-starts 10] [--requests 2000] [--tsx] [--json]`: the local
// runtime's scale-from-zero latency for echo (p50/p95), the ingress's overhead over calling the
// worker directly (p50), and the local broker's throughput and delivery latency. With --json
// the last line holds coldStartP50Ms, ingressOverheadP50Ms, brokerEventsPerSec, deliveryP99Ms.
// `--observability both [--repeats 3]` instead compares the broker with the runtime's metrics
// and dashboard observers off and on, alternating, and prints medians and ratios.
import { Command } from 'commander';
import { createDashboard } from '../../knative/runtime/dashboard/index.js';
import { runtimeMetrics } from '../../knative/runtime/metrics.js';
import { compareObservability, comparisonTable, parseObservability } from './observability.js';
import { benchBroker } from './runtime/broker.js';
import { measureColdStart, measureIngressOverhead } from './runtime/scale.js';

export async function main(argv: string[]): Promise<void> {
  const o = new Command('runtime')
    .option('--cold-starts <n>', 'scale-from-zero samples', '10')
    .option('--requests <n>', 'requests per path for the ingress overhead', '2000')
    .option('--tsx', 'also time cold starts of workers started with tsx instead of a bundle', false)
    .option('--json', 'print the result as JSON on the last line', false)
    .option('--observability <mode>', 'both: compare broker throughput with the runtime metrics off and on, only')
    .option('--repeats <n>', 'runs per mode with --observability both', '3')
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<{
      coldStarts: string;
      requests: string;
      tsx: boolean;
      json: boolean;
      observability?: string;
      repeats: string;
    }>();
  if (parseObservability(o.observability)?.length === 2) {
    await compareBroker(Number(o.repeats), o.json);
    return;
  }
  const coldStarts = Number(o.coldStarts);
  const requests = Number(o.requests);
  if (!Number.isInteger(coldStarts) || coldStarts < 1 || !Number.isInteger(requests) || requests < 1)
    throw new Error('--cold-starts and --requests must be positive integers');
  const note = (line: string): void => void process.stderr.write(`${line}\n`);

  const cold = await measureColdStart(coldStarts, 'bundle', (ms) => note(`cold start (bundle): ${ms.toFixed(0)} ms`));
  const coldTsx = o.tsx
    ? await measureColdStart(coldStarts, 'tsx', (ms) => note(`cold start (tsx): ${ms.toFixed(0)} ms`))
    : null;
  const overhead = await measureIngressOverhead(requests);
  note('broker: 10,000 events to a no-op subscriber, then 1,000 one at a time');
  const broker = await benchBroker();

  const tsxRows: Array<[string, string, string]> = coldTsx
    ? [
        ['echo scale-from-zero p50 (tsx)', `${coldTsx.p50Ms.toFixed(0)} ms`, ''],
        ['echo scale-from-zero p95 (tsx)', `${coldTsx.p95Ms.toFixed(0)} ms`, ''],
      ]
    : [];
  const rows: Array<[string, string, string]> = [
    ['echo scale-from-zero p50 (bundle)', `${cold.p50Ms.toFixed(0)} ms`, '≤ 500 ms'],
    ['echo scale-from-zero p95 (bundle)', `${cold.p95Ms.toFixed(0)} ms`, ''],
    ...tsxRows,
    ['worker direct p50', `${overhead.directP50Ms.toFixed(3)} ms`, ''],
    ['through ingress p50', `${overhead.ingressP50Ms.toFixed(3)} ms`, ''],
    ['ingress overhead p50', `${overhead.overheadP50Ms.toFixed(3)} ms`, '≤ 1 ms'],
    ['broker throughput', `${broker.brokerEventsPerSec} events/s`, '≥ 2,000'],
    ['broker delivery p50', `${broker.deliveryP50Ms.toFixed(2)} ms`, ''],
    ['broker delivery p99', `${broker.deliveryP99Ms.toFixed(2)} ms`, ''],
  ];
  process.stdout.write(
    `| measure | value | target |\n|---|---|---|\n${rows.map((r) => `| ${r.join(' | ')} |`).join('\n')}\n`,
  );
  if (o.json) {
    const result = {
      coldStartP50Ms: round(cold.p50Ms),
      coldStartP95Ms: round(cold.p95Ms),
      ...(coldTsx ? { coldStartTsxP50Ms: round(coldTsx.p50Ms) } : {}),
      ingressOverheadP50Ms: round(overhead.overheadP50Ms, 3),
      brokerEventsPerSec: broker.brokerEventsPerSec,
      deliveryP50Ms: round(broker.deliveryP50Ms, 2),
      deliveryP99Ms: round(broker.deliveryP99Ms, 2),
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** Broker throughput and delivery latency with the runtime's broker metrics and dashboard off and on. */
async function compareBroker(repeats: number, json: boolean): Promise<void> {
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error('--repeats must be a positive integer');
  // As the runtime runs them: one metrics registry (with its process collectors) for the whole
  // run, its broker observer with the dashboard's recorder beside it. Made once, as the runtime
  // makes them once: a registry per run would pile up default-metrics collectors in later runs.
  const dashboard = createDashboard({
    manifests: { services: [], brokers: [], triggers: [], pingSources: [], ignored: [], warnings: [] },
    services: () => [],
    functionTargetOf: () => undefined,
    logger: { info: () => undefined, warn: () => undefined, error: () => undefined },
  });
  const watched = dashboard.alongside(
    runtimeMetrics(
      () => [],
      () => undefined,
    ).brokerObserver('bench'),
  );
  const comparison = await compareObservability(
    repeats,
    async (mode) => {
      const observer = mode === 'on' ? watched : undefined;
      const r = await benchBroker({ events: 5_000, latencyEvents: 500, ...(observer ? { observer } : {}) });
      return {
        'events/s': r.brokerEventsPerSec,
        'CPU µs per event': r.cpuMsPerEvent * 1000,
        'delivery p50 ms': r.deliveryP50Ms,
        'delivery p99 ms': r.deliveryP99Ms,
      };
    },
    (line) => void process.stderr.write(`${line}\n`),
  );
  process.stdout.write(
    `${comparisonTable('broker: 5,000 events to a no-op subscriber, then 500 one at a time; metrics and dashboard off vs on', comparison)}\n`,
  );
  if (json) process.stdout.write(`${JSON.stringify({ bench: 'broker-observability', ...comparison })}\n`);
}
