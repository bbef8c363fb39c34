// The concurrency sampler: exact time-weighted window averages and request rates.
import { describe, expect, it } from 'vitest';
import { ConcurrencySampler } from './concurrency.js';

type Step = { at: number; op: 'begin' | 'end' };
interface Case {
  name: string;
  steps: Step[];
  now: number;
  windowMs: number;
  average: number;
  rate?: number;
  current: number;
  idleSince: number | null;
}

const cases: Case[] = [
  {
    name: 'no traffic averages zero and is idle since creation',
    steps: [],
    now: 10_000,
    windowMs: 6_000,
    average: 0,
    rate: 0,
    current: 0,
    idleSince: 0,
  },
  {
    name: 'one request held for the whole window averages one',
    steps: [{ at: 0, op: 'begin' }],
    now: 10_000,
    windowMs: 6_000,
    average: 1,
    current: 1,
    idleSince: null,
  },
  {
    name: 'two requests over half the window average one',
    steps: [
      { at: 4_000, op: 'begin' },
      { at: 4_000, op: 'begin' },
      { at: 7_000, op: 'end' },
      { at: 7_000, op: 'end' },
    ],
    now: 10_000,
    windowMs: 6_000,
    average: 1,
    rate: 2 / 6,
    current: 0,
    idleSince: 7_000,
  },
  {
    name: 'traffic before the window does not count',
    steps: [
      { at: 1_000, op: 'begin' },
      { at: 3_000, op: 'end' },
    ],
    now: 10_000,
    windowMs: 6_000,
    average: 0,
    rate: 0,
    current: 0,
    idleSince: 3_000,
  },
  {
    name: 'a window edge inside a bucket counts only the overlap',
    steps: [
      { at: 3_950, op: 'begin' },
      { at: 4_050, op: 'end' },
    ],
    now: 10_000,
    windowMs: 6_000,
    average: 50 / 6_000,
    current: 0,
    idleSince: 4_050,
  },
  {
    name: 'a young sampler averages over its age',
    steps: [
      { at: 0, op: 'begin' },
      { at: 500, op: 'end' },
    ],
    now: 1_000,
    windowMs: 6_000,
    average: 0.5,
    rate: 1,
    current: 0,
    idleSince: 500,
  },
];

describe('ConcurrencySampler', () => {
  it.each(cases)('$name', (c) => {
    const s = new ConcurrencySampler(100, 60_000, 0);
    for (const step of c.steps) s[step.op](step.at);
    expect(s.average(c.windowMs, c.now)).toBeCloseTo(c.average, 9);
    if (c.rate !== undefined) expect(s.rate(c.windowMs, c.now)).toBeCloseTo(c.rate, 9);
    expect(s.current()).toBe(c.current);
    expect(s.idleSinceMs()).toBe(c.idleSince);
  });

  it('forgets buckets older than the retention', () => {
    const s = new ConcurrencySampler(100, 1_000, 0);
    s.begin(0);
    s.end(500);
    expect(s.average(100_000, 50_000)).toBe(0);
  });
});
