// Parsing a client's window: the accepted forms and a clear error for every bad one.
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../_shared/errors.js';
import { FEATURES, FEATURE_COUNT, WINDOW_ROWS } from './driving-data.js';
import { parseWindow } from './window.js';

const rows = (n = WINDOW_ROWS, cols = FEATURE_COUNT): number[][] =>
  Array.from({ length: n }, (_, r) => Array.from({ length: cols }, (_, c) => r + c / 100));

describe('parseWindow accepts', () => {
  it.each([
    { name: 'a JSON array of rows', text: JSON.stringify(rows()) },
    { name: 'a JSON object with rows', text: JSON.stringify({ rows: rows() }) },
    {
      name: 'CSV lines',
      text: rows()
        .map((r) => r.join(','))
        .join('\n'),
    },
    { name: 'CSV with a header and CRLF', text: [FEATURES.join(','), ...rows().map((r) => r.join(','))].join('\r\n') },
    { name: 'numbers as strings', text: JSON.stringify(rows().map((r) => r.map(String))) },
  ])('$name', ({ text }) => {
    const w = parseWindow(text);
    expect(w.length).toBe(WINDOW_ROWS * FEATURE_COUNT);
    expect(w[FEATURE_COUNT + 1]).toBeCloseTo(1.01);
  });
});

describe('parseWindow refuses', () => {
  const withCell = (value: unknown) => {
    const r: unknown[][] = rows();
    r[3]![4] = value;
    return JSON.stringify(r);
  };
  it.each([
    { name: 'an empty message', text: '  ', error: /empty window/ },
    { name: 'too few rows', text: JSON.stringify(rows(39)), error: /has 40 rows, got 39/ },
    { name: 'too many rows', text: JSON.stringify(rows(41)), error: /has 40 rows, got 41/ },
    { name: 'a short row', text: JSON.stringify([...rows(39), [1, 2, 3]]), error: /row 40 must have 15 values/ },
    {
      name: 'a non-numeric cell',
      text: withCell('fast'),
      error: /row 4, brake_pressure_bar: "fast" is not a finite number/,
    },
    {
      name: 'NaN in CSV',
      text: rows()
        .map((r, i) => (i === 2 ? ['NaN', ...r.slice(1)] : r).join(','))
        .join('\n'),
      error: /row 3, speed_kmh: "NaN"/,
    },
    {
      name: 'Infinity',
      text: rows()
        .map((r, i) => (i === 0 ? ['Infinity', ...r.slice(1)] : r).join(','))
        .join('\n'),
      error: /not a finite number/,
    },
    { name: 'null', text: withCell(null), error: /null is not a finite number/ },
    {
      name: 'an empty cell',
      text: rows()
        .map((r, i) => (i === 5 ? ['', ...r.slice(1)] : r).join(','))
        .join('\n'),
      error: /row 6, speed_kmh/,
    },
    { name: 'broken JSON', text: '[[1,2', error: /not valid JSON/ },
    { name: 'a JSON object without rows', text: '{"data": []}', error: /array of rows/ },
  ])('$name', ({ text, error }) => {
    expect(() => parseWindow(text)).toThrow(BadInputError);
    expect(() => parseWindow(text)).toThrow(error);
  });
});
