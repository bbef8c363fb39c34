import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/_shared/errors.js';
import { compileTriggerFilter, type TriggerFilters } from './filter.js';

const event = {
  specversion: '1.0',
  id: 'e-1',
  source: '/kaskade/splitter',
  type: 'dev.kaskade.shard.ready',
  subject: 'job-7/round-2',
  jobid: 'job-7',
};

describe('trigger filters', () => {
  it.each<{ name: string; spec: TriggerFilters; matches: boolean }>([
    { name: 'no filter passes everything', spec: {}, matches: true },
    { name: 'empty attributes pass everything', spec: { filter: { attributes: {} } }, matches: true },
    {
      name: 'attributes: exact type',
      spec: { filter: { attributes: { type: 'dev.kaskade.shard.ready' } } },
      matches: true,
    },
    {
      name: 'attributes: other type',
      spec: { filter: { attributes: { type: 'dev.kaskade.shard.trained' } } },
      matches: false,
    },
    {
      name: 'attributes: ANDed, one fails',
      spec: { filter: { attributes: { type: 'dev.kaskade.shard.ready', source: '/kaskade/x' } } },
      matches: false,
    },
    {
      name: 'attributes: ANDed, all pass',
      spec: { filter: { attributes: { type: 'dev.kaskade.shard.ready', jobid: 'job-7' } } },
      matches: true,
    },
    {
      name: 'attributes: empty value is a wildcard',
      spec: { filter: { attributes: { type: '', jobid: 'job-7' } } },
      matches: true,
    },
    { name: 'attributes: missing extension', spec: { filter: { attributes: { round: '2' } } }, matches: false },
    { name: 'exact match', spec: { filters: [{ exact: { type: 'dev.kaskade.shard.ready' } }] }, matches: true },
    {
      name: 'exact is case-sensitive',
      spec: { filters: [{ exact: { type: 'dev.kaskade.Shard.ready' } }] },
      matches: false,
    },
    { name: 'exact on a missing attribute', spec: { filters: [{ exact: { round: '2' } }] }, matches: false },
    { name: 'prefix match', spec: { filters: [{ prefix: { type: 'dev.kaskade.' } }] }, matches: true },
    { name: 'prefix miss', spec: { filters: [{ prefix: { type: 'dev.knative.' } }] }, matches: false },
    { name: 'suffix match', spec: { filters: [{ suffix: { type: '.ready' } }] }, matches: true },
    { name: 'suffix miss', spec: { filters: [{ suffix: { type: '.trained' } }] }, matches: false },
    {
      name: 'several entries are ANDed',
      spec: { filters: [{ prefix: { type: 'dev.kaskade.' } }, { exact: { source: '/kaskade/aggregator' } }] },
      matches: false,
    },
    {
      name: 'all: every part passes',
      spec: { filters: [{ all: [{ prefix: { type: 'dev.' } }, { suffix: { subject: 'round-2' } }] }] },
      matches: true,
    },
    {
      name: 'all: one part fails',
      spec: { filters: [{ all: [{ prefix: { type: 'dev.' } }, { suffix: { subject: 'round-3' } }] }] },
      matches: false,
    },
    {
      name: 'any: one part passes',
      spec: { filters: [{ any: [{ exact: { type: 'x' } }, { exact: { jobid: 'job-7' } }] }] },
      matches: true,
    },
    {
      name: 'any: no part passes',
      spec: { filters: [{ any: [{ exact: { type: 'x' } }, { exact: { jobid: 'job-8' } }] }] },
      matches: false,
    },
    {
      name: 'not: negates a miss',
      spec: { filters: [{ not: { exact: { type: 'dev.kaskade.job.failed' } } }] },
      matches: true,
    },
    { name: 'not: negates a match', spec: { filters: [{ not: { prefix: { source: '/kaskade/' } } }] }, matches: false },
    {
      name: 'nested all/any/not',
      spec: {
        filters: [
          {
            all: [
              { any: [{ exact: { type: 'a' } }, { suffix: { type: 'ready' } }] },
              { not: { exact: { jobid: 'job-1' } } },
            ],
          },
        ],
      },
      matches: true,
    },
    {
      name: 'cesql match',
      spec: { filters: [{ cesql: "type LIKE 'dev.kaskade.%' AND jobid = 'job-7'" }] },
      matches: true,
    },
    { name: 'cesql miss', spec: { filters: [{ cesql: "source = '/kaskade/aggregator'" }] }, matches: false },
    {
      name: 'filters override filter',
      spec: { filter: { attributes: { type: 'nope' } }, filters: [{ exact: { jobid: 'job-7' } }] },
      matches: true,
    },
    {
      name: 'filters override filter (miss)',
      spec: { filter: { attributes: { type: 'dev.kaskade.shard.ready' } }, filters: [{ exact: { jobid: 'job-8' } }] },
      matches: false,
    },
    {
      name: 'empty filters fall back to filter',
      spec: { filter: { attributes: { type: 'nope' } }, filters: [] },
      matches: false,
    },
  ])('$name', ({ spec, matches }) => {
    expect(compileTriggerFilter(spec, 'trigger t')(event)).toBe(matches);
  });

  it.each<{ name: string; spec: TriggerFilters; message: RegExp }>([
    {
      name: 'two dialects in one entry',
      spec: { filters: [{ exact: { type: 'a' }, prefix: { type: 'b' } }] },
      message: /exactly one of .*found exact and prefix/,
    },
    { name: 'no dialect', spec: { filters: [{}] }, message: /found none/ },
    {
      name: 'empty exact',
      spec: { filters: [{ exact: {} }] },
      message: /filters\[0\]\.exact: needs at least one attribute/,
    },
    {
      name: 'cesql function',
      spec: { filters: [{ cesql: "LOWER(type) = 'a'" }] },
      message: /filters\[0\]\.cesql .*function LOWER\(\) is not supported/,
    },
    {
      name: 'cesql arithmetic',
      spec: { filters: [{ cesql: 'round + 1 = 2' }] },
      message: /arithmetic is not supported/,
    },
    {
      name: 'cesql syntax error deep inside',
      spec: { filters: [{ any: [{ not: { cesql: "type = 'a' AND" } }] }] },
      message: /filters\[0\]\.any\[0\]\.not\.cesql/,
    },
  ])('rejects $name at load', ({ spec, message }) => {
    expect(() => compileTriggerFilter(spec, 'trigger t')).toThrow(ConfigError);
    expect(() => compileTriggerFilter(spec, 'trigger t')).toThrow(message);
  });
});
