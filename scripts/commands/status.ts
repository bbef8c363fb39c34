// `kaskade status`: asks the running runtime (found through <state-dir>/runtime.json) for each
// service's workers, observed concurrency, desired scale and autoscaler mode.
import type { Command } from 'commander';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import { UnavailableError } from '../../functions/_shared/errors.js';
import { loadRuntimeConfig, readState, type RuntimeStatus } from '../../knative/runtime/index.js';

export function register(program: Command): void {
  program
    .command('status')
    .description('show services of the running runtime: workers, concurrency, scale, panic/stable')
    .option('--state-dir <dir>', 'state folder of the running runtime (KASKADE_STATE_DIR)')
    .option('--json', 'print the raw status JSON', false)
    .action((flags: { stateDir?: string; json: boolean }) => status(flags));
}

async function status(flags: { stateDir?: string; json: boolean }): Promise<void> {
  const state = await readState(flags.stateDir ?? loadRuntimeConfig(process.env).stateDir);
  const res = await fetchWithTimeout(`${state.adminUrl}/status`, {}, 5_000);
  if (!res.ok) throw new UnavailableError(`runtime answered ${res.status} at ${state.adminUrl}/status`);
  const body = (await res.json()) as RuntimeStatus;
  process.stdout.write(flags.json ? `${JSON.stringify(body, null, 2)}\n` : formatStatus(body));
}

export function formatStatus(s: RuntimeStatus): string {
  const header = ['SERVICE', 'READY', 'STARTING', 'CONCURRENCY', 'QUEUED', 'STABLE', 'PANIC', 'DESIRED', 'MODE'];
  const rows = s.services.map((v) => [
    `${v.namespace}/${v.name}`,
    String(v.ready),
    String(v.starting),
    String(v.observedConcurrency),
    String(v.queued),
    v.stable.toFixed(2),
    v.panic.toFixed(2),
    String(v.desired),
    v.mode,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out = [`runtime pid ${s.pid} on port ${s.port} since ${s.startedAt}`, line(header), ...rows.map(line)];
  if (s.brokerUrl) out.push(`broker: ${s.brokerUrl}`);
  for (const p of s.pingSources)
    out.push(
      `ping ${p.namespace}/${p.name}: ${p.suspended ? 'suspended' : `next ${p.next ?? '-'}`}, fired ${p.fired}, failed ${p.failed}`,
    );
  return `${out.join('\n')}\n`;
}
