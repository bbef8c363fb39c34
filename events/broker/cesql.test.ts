import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/_shared/errors.js';
import { compileCesql } from './cesql.js';

const attrs = {
  specversion: '1.0',
  id: 'abc',
  source: '/kaskade/shard-trainer',
  type: 'dev.kaskade.shard.trained',
  round: '3',
  final: 'true',
  note: "it's 100%",
};

describe('cesql subset', () => {
  it.each([
    { name: 'string equality', expr: "type = 'dev.kaskade.shard.trained'", want: true },
    { name: 'double-quoted string', expr: 'type = "dev.kaskade.shard.trained"', want: true },
    { name: 'inequality !=', expr: "type != 'x'", want: true },
    { name: 'inequality <>', expr: "type <> 'dev.kaskade.shard.trained'", want: false },
    { name: 'integer cast of an attribute', expr: 'round = 3', want: true },
    { name: 'integer comparison >', expr: 'round > 2', want: true },
    { name: 'integer comparison <=', expr: 'round <= 2', want: false },
    { name: 'negative literal', expr: 'round > -1', want: true },
    { name: 'boolean cast', expr: 'final = TRUE', want: true },
    { name: 'bare boolean attribute', expr: 'final', want: true },
    { name: 'AND', expr: "round = 3 AND source = '/kaskade/shard-trainer'", want: true },
    { name: 'OR', expr: "round = 4 OR id = 'abc'", want: true },
    { name: 'XOR both true', expr: "round = 3 XOR id = 'abc'", want: false },
    { name: 'NOT', expr: "NOT type = 'x'", want: true },
    { name: 'precedence: AND before OR', expr: "id = 'x' AND round = 9 OR round = 3", want: true },
    { name: 'parentheses', expr: "id = 'x' AND (round = 9 OR round = 3)", want: false },
    { name: 'LIKE with %', expr: "type LIKE 'dev.kaskade.%'", want: true },
    { name: 'LIKE with _', expr: "id LIKE 'a_c'", want: true },
    { name: 'LIKE miss', expr: "type LIKE '%.ready'", want: false },
    { name: 'NOT LIKE', expr: "type NOT LIKE '%.ready'", want: true },
    { name: 'LIKE escaped % and quote', expr: "note LIKE 'it''s 100\\%'", want: true },
    { name: 'LIKE treats regex characters literally', expr: "source LIKE '/kaskade/shard.trainer'", want: false },
    { name: 'IN list', expr: "id IN ('x', 'abc')", want: true },
    { name: 'NOT IN list', expr: "id NOT IN ('x', 'abc')", want: false },
    { name: 'IN with integers', expr: 'round IN (1, 2, 3)', want: true },
    { name: 'EXISTS present', expr: 'EXISTS round', want: true },
    { name: 'EXISTS absent', expr: 'EXISTS jobid', want: false },
    { name: 'NOT EXISTS', expr: 'NOT EXISTS jobid', want: true },
    { name: 'missing attribute fails the filter', expr: "jobid = 'j'", want: false },
    { name: 'missing attribute fails even under NOT', expr: "NOT jobid = 'j'", want: false },
    { name: 'failed integer cast fails the filter', expr: 'type > 3', want: false },
    { name: 'keywords are case-insensitive', expr: "type like 'dev.%' and not id = 'x'", want: true },
    { name: 'literal TRUE', expr: 'TRUE', want: true },
  ])('$name: $expr → $want', ({ expr, want }) => {
    expect(compileCesql(expr)(attrs)).toBe(want);
  });

  it.each([
    { name: 'function call', expr: "UPPER(type) = 'X'", message: /function UPPER\(\)/ },
    { name: 'arithmetic', expr: 'round * 2 = 6', message: /arithmetic/ },
    { name: 'decimal number', expr: 'round = 1.5', message: /only integer/ },
    { name: 'unterminated string', expr: "type = 'abc", message: /unterminated string/ },
    { name: 'dangling operator', expr: "type = 'a' AND", message: /unexpected end/ },
    { name: 'trailing tokens', expr: "type = 'a' 'b'", message: /unexpected "b"/ },
    { name: 'uppercase attribute', expr: "Type = 'a'", message: /lowercase/ },
    { name: 'LIKE without a string', expr: 'type LIKE 3', message: /LIKE needs a string/ },
    { name: 'EXISTS without a name', expr: 'EXISTS 3', message: /EXISTS needs an attribute/ },
    { name: 'unbalanced parenthesis', expr: "(type = 'a'", message: /unexpected end/ },
  ])('rejects $name', ({ expr, message }) => {
    expect(() => compileCesql(expr)).toThrow(ConfigError);
    expect(() => compileCesql(expr)).toThrow(message);
  });
});
