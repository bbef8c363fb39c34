// `kaskade edge-client --type scalar|image --duration 30s [--admission URL] [--http] [--base64]`:
// asks admission, streams to the edge service or to the centre, and prints the average
// end-to-end latency, bytes sent and received, and the request count.
import type { Command } from 'commander';
import { BadInputError } from '../../functions/_shared/errors.js';
import { parseDuration, runEdgeClient, type EdgeClientReport } from '../edge/client.js';

interface Flags {
  type: string;
  duration: string;
  admission: string;
  clientId?: string;
  http?: boolean;
  base64?: boolean;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('edge-client')
    .description('ask edge admission for an ML service, stream to it (or to the centre), print latency and bytes')
    .requiredOption('--type <type>', 'scalar (driver windows) or image')
    .option('--duration <time>', 'how long to stream, e.g. 30s, 2m', '30s')
    .option('--admission <url>', 'the edge admission URL', 'http://admission.kaskade.localhost:8080/')
    .option('--client-id <id>', 'the client ID (default: a random one)')
    .option('--http', 'use the HTTP fallback instead of a WebSocket')
    .option('--base64', 'send images as base64 text, as the seed client did')
    .option('--json', 'print the report as JSON on the last line')
    .action(async (flags: Flags) => {
      if (flags.type !== 'scalar' && flags.type !== 'image')
        throw new BadInputError(`--type must be scalar or image, got "${flags.type}"`);
      const report = await runEdgeClient({
        type: flags.type,
        admissionUrl: flags.admission,
        durationMs: parseDuration(flags.duration),
        ...(flags.clientId ? { clientId: flags.clientId } : {}),
        http: flags.http ?? false,
        base64: flags.base64 ?? false,
      });
      process.stdout.write(formatReport(report, parseDuration(flags.duration)));
      if (flags.json) process.stdout.write(`${JSON.stringify({ ...report, latenciesMs: undefined })}\n`);
    });
}

export function formatReport(r: EdgeClientReport, durationMs: number): string {
  const kb = (n: number): string =>
    n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(2)} MiB` : `${(n / 1024).toFixed(1)} KiB`;
  return [
    `edge-client: ${r.type} ${r.clientId} served at the ${r.placement} (${r.serviceUrl}); admission took ${r.admissionMs.toFixed(0)} ms`,
    `  requests: ${r.requests} in ${(durationMs / 1000).toFixed(1)} s`,
    `  end-to-end latency: average ${r.averageMs.toFixed(2)} ms (p50 ${r.p50Ms.toFixed(2)}, p99 ${r.p99Ms.toFixed(2)})`,
    `  bytes sent: ${r.bytesSent} (${kb(r.bytesSent)}), received: ${r.bytesReceived} (${kb(r.bytesReceived)})`,
    '',
  ].join('\n');
}
