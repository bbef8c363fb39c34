// The session table: reservations never exceed capacity, asking again renews, leases expire.
import { describe, expect, it } from 'vitest';
import { SessionTable } from './sessions.js';

function clock(start = 1_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('SessionTable', () => {
  it('admits up to capacity, then refuses', () => {
    const table = new SessionTable(10_000);
    const results = ['a', 'b', 'c'].map((id) => table.reserve(id, 'scalar', 2).admitted);
    expect(results).toEqual([true, true, false]);
    expect(table.count('scalar')).toBe(2);
  });

  it('asking again renews instead of taking a second slot', () => {
    const c = clock();
    const table = new SessionTable(10_000, c.now);
    table.reserve('a', 'image', 1);
    c.advance(9_000);
    const again = table.reserve('a', 'image', 1);
    expect(again).toMatchObject({ admitted: true, renewed: true });
    expect(table.count('image')).toBe(1);
    c.advance(9_000);
    expect(table.expire()).toEqual([]);
  });

  it('one client may hold a session of each type', () => {
    const table = new SessionTable(10_000);
    expect(table.reserve('a', 'scalar', 1).admitted).toBe(true);
    expect(table.reserve('a', 'image', 1).admitted).toBe(true);
    expect(
      table
        .release('a')
        .map((s) => s.type)
        .sort(),
    ).toEqual(['image', 'scalar']);
  });

  it('leases expire unless renewed', () => {
    const c = clock();
    const table = new SessionTable(5_000, c.now);
    table.reserve('kept', 'scalar', 5);
    table.reserve('gone', 'scalar', 5);
    c.advance(4_000);
    expect(table.renew('kept', 'scalar')).toHaveLength(1);
    c.advance(1_000);
    expect(table.expire().map((s) => s.clientId)).toEqual(['gone']);
    expect(table.count('scalar')).toBe(1);
    expect(table.renew('gone')).toEqual([]);
  });

  it('release by type leaves the other type', () => {
    const table = new SessionTable(5_000);
    table.reserve('a', 'scalar', 5);
    table.reserve('a', 'image', 5);
    expect(table.release('a', 'image')).toHaveLength(1);
    expect(table.count('scalar')).toBe(1);
    expect(table.count('image')).toBe(0);
  });
});
