// `kaskade autoscale-lab`: fits the seed's latency model to a collected CSV (or takes the seed's
// published fit), rebuilds its Q-learning agent, simulates a seeded trace under the Q policy,
// the KPA and fixed pod counts, prints the table and the recommended annotations, and writes
// the chart (SVG) and the report (JSON).
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { BadInputError } from '../../functions/_shared/errors.js';
import { labChartSvg } from '../../knative/lab/chart.js';
import { parseCollectCsv } from '../../knative/lab/csv.js';
import { LAB_DEFAULTS, runLab } from '../../knative/lab/lab.js';
import { formatLabReport } from '../../knative/lab/report.js';

interface Flags {
  csv?: string;
  batchSize?: string;
  seed: string;
  out: string;
  slo: string;
  json: boolean;
}

export function register(program: Command): void {
  program
    .command('autoscale-lab')
    .description(
      "compare the seed's Q-learning autoscaler with the KPA and fixed pods on a simulated trace; recommend annotations",
    )
    .option('--csv <file>', "rows collected by `kaskade collect` (default: the seed's published fit)")
    .option(
      '--batch-size <n>',
      "requests per batch in the CSV (collect's --concurrency); default: a batch ends where end_time falls back",
    )
    .option('--seed <n>', 'seed of the simulated trace', String(LAB_DEFAULTS.seed))
    .option('--slo <ms>', 'latency SLO in ms', String(LAB_DEFAULTS.sloMs))
    .option('--out <dir>', 'where the chart and report go', '.kaskade/lab')
    .option('--json', 'print the report as JSON on the last line', false)
    .action((flags: Flags) => lab(flags));
}

async function lab(flags: Flags): Promise<void> {
  if (flags.batchSize !== undefined && !(Number.isInteger(Number(flags.batchSize)) && Number(flags.batchSize) >= 1)) {
    throw new BadInputError(`--batch-size must be a whole number ≥ 1, got ${flags.batchSize}`);
  }
  const rows = flags.csv ? parseCollectCsv(await readFile(flags.csv, 'utf8')) : undefined;
  const report = runLab({
    ...LAB_DEFAULTS,
    seed: Number(flags.seed),
    sloMs: Number(flags.slo),
    ...(rows ? { rows } : {}),
    ...(flags.batchSize ? { batchSize: Number(flags.batchSize) } : {}),
  });
  await mkdir(flags.out, { recursive: true });
  const chart = join(flags.out, 'autoscale-lab.svg');
  await writeFile(chart, await labChartSvg(report.results));
  const summary = {
    policy: report.agent.policy,
    fits: Object.fromEntries(report.fits),
    results: report.results.map(({ timeline: _timeline, ...r }) => r),
    recommendation: report.recommendation,
  };
  await writeFile(join(flags.out, 'autoscale-lab.json'), `${JSON.stringify(summary, null, 2)}\n`);
  process.stdout.write(formatLabReport(report));
  process.stdout.write(`chart: ${chart}\n`);
  if (flags.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
}
