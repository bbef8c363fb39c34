// Observability on versus off in one run, for the predictor and broker benchmarks: the two
// modes alternate (off-on, then on-off, ...) so drifting machine load falls on both, each
// measure's median is taken per mode, and the table gives on/off ratios with the load average
// seen during the run. Other work on the machine moves both columns; the ratio is the figure.
import { loadavg } from 'node:os';

export type ObservabilityMode = 'on' | 'off';

export function parseObservability(value: string | undefined): ObservabilityMode[] | undefined {
  if (value === undefined) return undefined;
  if (value === 'on' || value === 'off') return [value];
  if (value === 'both') return ['off', 'on'];
  throw new Error(`--observability must be on, off or both, got "${value}"`);
}

export interface Comparison {
  /** Per measure: the median with observability off and on, and on ÷ off. */
  readonly rows: ReadonlyArray<{ measure: string; off: number; on: number; ratio: number }>;
  readonly repeats: number;
  readonly loadAverage: { readonly start: number; readonly end: number };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
}

/** Runs `measure` `repeats` times per mode, alternating, and compares the medians. */
export async function compareObservability(
  repeats: number,
  measure: (mode: ObservabilityMode) => Promise<Readonly<Record<string, number>>>,
  note: (line: string) => void,
): Promise<Comparison> {
  const start = loadavg()[0] ?? NaN;
  const samples: Record<ObservabilityMode, Array<Readonly<Record<string, number>>>> = { off: [], on: [] };
  for (let r = 0; r < repeats; r++) {
    const order: ObservabilityMode[] = r % 2 === 0 ? ['off', 'on'] : ['on', 'off'];
    for (const mode of order) {
      const result = await measure(mode);
      samples[mode].push(result);
      note(
        `run ${r + 1}/${repeats}, observability ${mode}: ${Object.entries(result)
          .map(([k, v]) => `${k} ${v.toFixed(2)}`)
          .join(', ')} (load ${(loadavg()[0] ?? NaN).toFixed(1)})`,
      );
    }
  }
  const measures = Object.keys(samples.off[0] ?? {});
  const rows = measures.map((m) => {
    const off = median(samples.off.map((s) => s[m] ?? NaN));
    const on = median(samples.on.map((s) => s[m] ?? NaN));
    return { measure: m, off, on, ratio: on / off };
  });
  return { rows, repeats, loadAverage: { start, end: loadavg()[0] ?? NaN } };
}

export function comparisonTable(title: string, c: Comparison): string {
  return [
    `${title}: medians of ${c.repeats} runs per mode, alternating; load average ${c.loadAverage.start.toFixed(1)} → ${c.loadAverage.end.toFixed(1)}`,
    '',
    '| measure | observability off | observability on | on ÷ off |',
    '|---|---:|---:|---:|',
    ...c.rows.map((r) => `| ${r.measure} | ${r.off.toFixed(2)} | ${r.on.toFixed(2)} | ${r.ratio.toFixed(3)} |`),
  ].join('\n');
}
