// Parsing one window a client sends: 40 rows of 15 numbers, as JSON (`[[...], ...]` or
// `{"rows": [[...], ...]}`) or as CSV text (one row per line, an optional header line). Any
// other shape, a non-numeric cell, NaN or ±Infinity is a BadInputError that says where.
import { BadInputError } from '../_shared/errors.js';
import { FEATURES, FEATURE_COUNT, WINDOW_ROWS } from './driving-data.js';

/** A window as WINDOW_ROWS × FEATURE_COUNT values, row-major. */
export function parseWindow(payload: string): Float32Array {
  const text = payload.trim();
  if (text === '') throw new BadInputError(`empty window; send ${WINDOW_ROWS} rows of ${FEATURE_COUNT} numbers`);
  const rows = text.startsWith('[') || text.startsWith('{') ? jsonRows(text) : csvRows(text);
  return windowFromRows(rows);
}

/** Checks rows (already split into cells) and packs them. */
export function windowFromRows(rows: readonly unknown[]): Float32Array {
  if (rows.length !== WINDOW_ROWS) throw new BadInputError(`a window has ${WINDOW_ROWS} rows, got ${rows.length}`);
  const out = new Float32Array(WINDOW_ROWS * FEATURE_COUNT);
  rows.forEach((row, r) => {
    if (!Array.isArray(row) || row.length !== FEATURE_COUNT) {
      throw new BadInputError(
        `row ${r + 1} must have ${FEATURE_COUNT} values (${FEATURES.join(', ')}), got ${Array.isArray(row) ? row.length : typeof row}`,
      );
    }
    row.forEach((cell: unknown, c) => {
      const v = typeof cell === 'number' ? cell : typeof cell === 'string' && cell.trim() !== '' ? Number(cell) : NaN;
      if (!Number.isFinite(v))
        throw new BadInputError(`row ${r + 1}, ${FEATURES[c]}: ${JSON.stringify(cell)} is not a finite number`);
      out[r * FEATURE_COUNT + c] = v;
    });
  });
  return out;
}

function jsonRows(text: string): unknown[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(`window is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const rows = Array.isArray(parsed) ? parsed : (parsed as { rows?: unknown }).rows;
  if (!Array.isArray(rows)) throw new BadInputError('a JSON window is an array of rows or {"rows": [...]}');
  return rows;
}

function csvRows(text: string): string[][] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '');
  if (lines[0] !== undefined && /[A-Za-z_]/.test(lines[0]) && lines[0].toLowerCase().includes(FEATURES[0]))
    lines.shift();
  return lines.map((l) => l.split(','));
}
