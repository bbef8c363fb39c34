// The generated driving data and the CSV loader for real logs in the same columns.
import { describe, expect, it } from 'vitest';
import { BadInputError } from '../_shared/errors.js';
import {
  DRIVERS,
  FEATURES,
  FEATURE_COUNT,
  WINDOW_ROWS,
  drivingCsv,
  generateDriverRows,
  generateDrivingWindows,
  parseDrivingCsv,
} from './driving-data.js';

describe('generateDrivingWindows', () => {
  it('is deterministic per seed and labels the 10 drivers in turn', () => {
    const a = generateDrivingWindows(3, 5);
    expect(a.n).toBe(30);
    expect(a.x.length).toBe(30 * WINDOW_ROWS * FEATURE_COUNT);
    expect(Array.from(a.y.subarray(0, 12))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    expect(generateDrivingWindows(3, 5).x).toEqual(a.x);
    expect(generateDrivingWindows(3, 6).x).not.toEqual(a.x);
    expect(a.x.every(Number.isFinite)).toBe(true);
  });

  it('drivers differ in their habits (mean speed per driver is spread out)', () => {
    const data = generateDrivingWindows(20, 1);
    const speed = new Array<number>(DRIVERS.length).fill(0);
    for (let i = 0; i < data.n; i += 1) {
      for (let t = 0; t < WINDOW_ROWS; t += 1)
        speed[data.y[i]!]! += data.x[(i * WINDOW_ROWS + t) * FEATURE_COUNT]! / (20 * WINDOW_ROWS);
    }
    expect(Math.max(...speed) - Math.min(...speed)).toBeGreaterThan(40);
  });

  it('a client stream is whole windows of one driver', () => {
    const rows = generateDriverRows(3, 2, 9);
    expect(rows).toHaveLength(2 * WINDOW_ROWS);
    expect(rows.every((r) => r.length === FEATURE_COUNT)).toBe(true);
    expect(() => generateDriverRows(10, 1, 1)).toThrow(BadInputError);
  });
});

describe('parseDrivingCsv', () => {
  it('reads back what drivingCsv writes', () => {
    const data = generateDrivingWindows(2, 3);
    const back = parseDrivingCsv(drivingCsv(data));
    expect(back.n).toBe(data.n);
    expect(back.y).toEqual(data.y);
    expect(Array.from(back.x)).toEqual(Array.from(data.x));
  });

  it('takes columns in any order, extra columns, and numeric driver labels', () => {
    const header = ['time', 'driver', ...[...FEATURES].reverse()].join(',');
    const row = (d: number, t: number) => [t, d, ...FEATURES.map((_, f) => FEATURE_COUNT - 1 - f + t)].join(',');
    const lines = [header, ...Array.from({ length: WINDOW_ROWS + 5 }, (_, t) => row(7, t))];
    const data = parseDrivingCsv(lines.join('\r\n'));
    expect(data.n).toBe(1);
    expect(data.y[0]).toBe(7);
    expect(Array.from(data.x.subarray(0, 3))).toEqual([0, 1, 2]);
  });

  it.each([
    {
      name: 'a missing feature column',
      csv: `${FEATURES.slice(1).join(',')},driver\n`,
      error: /lacks the column speed_kmh/,
    },
    { name: 'no driver column', csv: `${FEATURES.join(',')}\n`, error: /lacks the column driver/ },
    {
      name: 'a non-numeric cell',
      csv: `${FEATURES.join(',')},driver\n${FEATURES.map(() => 'x').join(',')},A\n`,
      error: /line 2: speed_kmh is not a number/,
    },
    {
      name: 'an unknown driver',
      csv: `${FEATURES.join(',')},driver\n${FEATURES.map(() => '1').join(',')},Z\n`,
      error: /driver must be A..J/,
    },
    {
      name: 'no full window',
      csv: `${FEATURES.join(',')},driver\n${FEATURES.map(() => '1').join(',')},A\n`,
      error: /no full window/,
    },
  ])('refuses $name', ({ csv, error }) => {
    expect(() => parseDrivingCsv(csv)).toThrow(error);
  });
});
