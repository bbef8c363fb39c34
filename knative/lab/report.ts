// The lab's report as text: the fits, the Q policy, the controllers' table and the
// recommended annotations. Plain strings, so the CLI prints them and tests read them.
import type { LabReport } from './lab.js';

export function formatLabReport(report: LabReport): string {
  const lines: string[] = [];
  lines.push(
    `fit of t = a·exp(−k·(pods−2)) + c per bandwidth level (${report.fitSource === 'csv' ? 'least squares on the CSV' : "the seed's published fit"}):`,
  );
  lines.push(
    table(
      ['level', 'a', 'k', 'c', 'rmse (s)', 'points'],
      [...report.fits].map(([level, f]) => [
        String(level),
        f.a.toFixed(4),
        f.k.toFixed(4),
        f.c.toFixed(4),
        Number.isNaN(f.rmse) ? '—' : f.rmse.toFixed(4),
        String(f.points),
      ]),
    ),
  );
  lines.push('');
  lines.push(
    `Q policy (pods for bandwidth level ${report.agent.levels.join(', ')}): ${report.agent.policy.join(', ')}`,
  );
  lines.push('');
  const p = report.params;
  lines.push(
    `simulated trace: seed ${p.seed}, ${p.phases.length} phases of ${(p.phases[0]?.durationMs ?? 0) / 1000} s (rate req/s / bandwidth level: ${p.phases.map((x) => `${x.ratePerSec}/${x.bandwidth}`).join(' ')}); A ${p.halfAMs} ms, B ${p.halfBMs} ms, transfer ${p.transferMs} ms per sender thread; SLO ${p.sloMs} ms`,
  );
  lines.push(
    table(
      ['controller', 'requests', 'p50 ms', 'p95 ms', 'SLO violations', 'pod-seconds'],
      report.results.map((r) => [
        r.controller,
        String(r.requests),
        r.p50Ms.toFixed(0),
        r.p95Ms.toFixed(0),
        `${(r.sloViolationRate * 100).toFixed(1)} %`,
        r.podSeconds.toFixed(0),
      ]),
    ),
  );
  lines.push('');
  lines.push(`recommended for each split half (${report.recommendation.why}):`);
  for (const [k, v] of Object.entries(report.recommendation.annotations)) lines.push(`  ${k}: "${v}"`);
  lines.push(`  containerConcurrency: ${report.recommendation.containerConcurrency}`);
  return `${lines.join('\n')}\n`;
}

function table(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}
