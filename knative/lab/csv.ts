// The seed's data-collection CSV: one row per request, columns
// inference_time_a, inference_time_b, total_time, end_time, NUM_POD_A, NUM_POD_B, BANDWIDTH
// (seconds, except the pod counts and the bandwidth level). `kaskade collect` writes it;
// the lab reads it (its own files and the seed's alike).
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { BadInputError } from '../../functions/_shared/errors.js';

export const CSV_COLUMNS = [
  'inference_time_a',
  'inference_time_b',
  'total_time',
  'end_time',
  'NUM_POD_A',
  'NUM_POD_B',
  'BANDWIDTH',
] as const;

export interface CollectRow {
  inferenceTimeA: number;
  inferenceTimeB: number;
  totalTime: number;
  /** Seconds from the start of the row's batch of concurrent requests until this answer. */
  endTime: number;
  podsA: number;
  podsB: number;
  bandwidth: number;
}

export function parseCollectCsv(text: string): CollectRow[] {
  let records: Array<Record<string, string>>;
  try {
    records = parse(text, {
      columns: (header: string[]) => header.map((h) => h.trim()),
      skip_empty_lines: true,
      trim: true,
    });
  } catch (e) {
    throw new BadInputError(`not a CSV file: ${(e as Error).message}`, { cause: e });
  }
  const first = records[0];
  if (first === undefined) throw new BadInputError('the CSV has no rows');
  const missing = CSV_COLUMNS.filter((c) => !(c in first));
  if (missing.length > 0) throw new BadInputError(`the CSV lacks the column(s) ${missing.join(', ')}`);
  return records.map((r, i) => {
    const num = (column: (typeof CSV_COLUMNS)[number]) => {
      const v = Number(r[column]);
      if (r[column] === '' || !Number.isFinite(v))
        throw new BadInputError(`row ${i + 2}: ${column} is not a number (${JSON.stringify(r[column])})`);
      return v;
    };
    return {
      inferenceTimeA: num('inference_time_a'),
      inferenceTimeB: num('inference_time_b'),
      totalTime: num('total_time'),
      endTime: num('end_time'),
      podsA: num('NUM_POD_A'),
      podsB: num('NUM_POD_B'),
      bandwidth: num('BANDWIDTH'),
    };
  });
}

export function formatCollectCsv(rows: readonly CollectRow[]): string {
  return stringify(
    rows.map((r) => [r.inferenceTimeA, r.inferenceTimeB, r.totalTime, r.endTime, r.podsA, r.podsB, r.bandwidth]),
    { header: true, columns: [...CSV_COLUMNS] },
  );
}

/** Batch times (the seed's fitted quantity): consecutive rows of one setting form a batch, a new
 *  batch starting where end_time falls back, or, with `batchSize` (the collection's concurrency,
 *  when every request answered), after that many rows; a batch's time is its last answer's
 *  end_time. Without `batchSize`, two batches whose answers all arrive close together can read
 *  as one (the next batch's first answer comes later than the last one's last). */
export function batchTimes(
  rows: readonly CollectRow[],
  batchSize?: number,
): Array<{ bandwidth: number; pods: number; seconds: number }> {
  const out: Array<{ bandwidth: number; pods: number; seconds: number }> = [];
  let current: { key: string; bandwidth: number; pods: number; last: number; max: number; rows: number } | undefined;
  for (const r of rows) {
    const key = `${r.bandwidth}/${r.podsA}/${r.podsB}`;
    const full = batchSize !== undefined && current !== undefined && current.rows >= batchSize;
    if (current === undefined || current.key !== key || full || (batchSize === undefined && r.endTime < current.last)) {
      if (current) out.push({ bandwidth: current.bandwidth, pods: current.pods, seconds: current.max });
      current = { key, bandwidth: r.bandwidth, pods: r.podsA + r.podsB, last: r.endTime, max: r.endTime, rows: 1 };
    } else {
      current.rows++;
      current.last = r.endTime;
      current.max = Math.max(current.max, r.endTime);
    }
  }
  if (current) out.push({ bandwidth: current.bandwidth, pods: current.pods, seconds: current.max });
  return out;
}
