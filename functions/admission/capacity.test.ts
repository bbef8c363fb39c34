// Capacity arithmetic as tables: weights by machine label, and free slots of the asked type.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../_shared/errors.js';
import { edgeNode } from '../../test/support/memory-cluster.js';
import { DEFAULT_NODE_WEIGHTS, freeSlots, isEdgeType, nodeCapacity, parseNodeWeights } from './capacity.js';
import { SessionTable } from './sessions.js';

const xavier = (i: number) => edgeNode(`xavier-${i}`, 'xavier');
const tx2 = (i: number) => edgeNode(`tx2-${i}`, 'tx2');
const nano = (i: number) => edgeNode(`nano-${i}`, 'nano');

describe('nodeCapacity', () => {
  it.each([
    { name: 'no nodes', nodes: [], weights: DEFAULT_NODE_WEIGHTS, want: 0 },
    { name: 'one xavier counts 2', nodes: [xavier(1)], weights: DEFAULT_NODE_WEIGHTS, want: 2 },
    { name: 'one tx2 counts 1', nodes: [tx2(1)], weights: DEFAULT_NODE_WEIGHTS, want: 1 },
    { name: 'nano is excluded', nodes: [nano(1), nano(2)], weights: DEFAULT_NODE_WEIGHTS, want: 0 },
    {
      name: 'the seed edge: 2 xavier + 2 tx2 + 1 nano',
      nodes: [xavier(1), xavier(2), tx2(1), tx2(2), nano(1)],
      weights: DEFAULT_NODE_WEIGHTS,
      want: 6,
    },
    {
      name: 'unlabelled and unknown boards count 0',
      nodes: [{ name: 'x', labels: {}, allocatable: {} }, edgeNode('o', 'orin')],
      weights: DEFAULT_NODE_WEIGHTS,
      want: 0,
    },
    {
      name: 'configured weights',
      nodes: [xavier(1), tx2(1), edgeNode('o', 'orin')],
      weights: { xavier: 3, tx2: 0, orin: 4 },
      want: 7,
    },
  ])('$name', ({ nodes, weights, want }) => {
    expect(nodeCapacity(nodes, weights)).toBe(want);
  });

  it('reads another label when told', () => {
    const node = { name: 'n', labels: { board: 'xavier' }, allocatable: {} };
    expect(nodeCapacity([node], DEFAULT_NODE_WEIGHTS, 'board')).toBe(2);
    expect(nodeCapacity([node], DEFAULT_NODE_WEIGHTS, 'machine')).toBe(0);
  });
});

describe('freeSlots', () => {
  it.each([
    { name: 'empty edge', capacity: 6, sessions: 0, want: 6 },
    { name: 'partly used', capacity: 6, sessions: 4, want: 2 },
    { name: 'full', capacity: 6, sessions: 6, want: 0 },
    { name: 'over (nodes went away) is 0, not negative', capacity: 2, sessions: 5, want: 0 },
  ])('$name', ({ capacity, sessions, want }) => {
    expect(freeSlots(capacity, sessions)).toBe(want);
  });
});

describe('free slots count only the type asked for', () => {
  it.each([
    {
      name: 'image sessions leave scalar capacity alone',
      open: { scalar: 0, image: 3 },
      ask: 'scalar' as const,
      want: 3,
    },
    {
      name: 'scalar sessions leave image capacity alone',
      open: { scalar: 3, image: 0 },
      ask: 'image' as const,
      want: 3,
    },
    { name: 'same type is subtracted', open: { scalar: 2, image: 1 }, ask: 'scalar' as const, want: 1 },
  ])('$name', ({ open, ask, want }) => {
    const table = new SessionTable(60_000);
    for (let i = 0; i < open.scalar; i += 1) table.reserve(`s${i}`, 'scalar', 100);
    for (let i = 0; i < open.image; i += 1) table.reserve(`i${i}`, 'image', 100);
    expect(freeSlots(3, table.count(ask))).toBe(want);
  });
});

describe('parseNodeWeights', () => {
  it.each([
    { name: 'the default', raw: 'xavier=2,tx2=1,nano=0', want: { xavier: 2, tx2: 1, nano: 0 } },
    { name: 'spaces and trailing comma', raw: ' xavier=3 , tx2=1,', want: { xavier: 3, tx2: 1 } },
  ])('$name', ({ raw, want }) => {
    expect(parseNodeWeights(raw)).toEqual(want);
  });

  it.each([
    { name: 'negative', raw: 'xavier=-1' },
    { name: 'fraction', raw: 'xavier=1.5' },
    { name: 'no value', raw: 'xavier' },
    { name: 'empty', raw: ' , ' },
  ])('rejects $name', ({ raw }) => {
    expect(() => parseNodeWeights(raw)).toThrow(ConfigError);
  });
});

describe('isEdgeType', () => {
  it.each([
    { value: 'scalar', want: true },
    { value: 'image', want: true },
    { value: 'video', want: false },
    { value: 'Scalar', want: false },
    { value: ['scalar'], want: false },
  ])('$value → $want', ({ value, want }) => {
    expect(isEdgeType(value)).toBe(want);
  });
});
