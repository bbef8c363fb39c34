// A documented subset of CloudEvents SQL (CESQL v1) for Trigger `filters: [{cesql: ...}]`.
// Supported: attribute names (lowercase), string literals ('..' or "..", backslash escapes),
// integer literals (with unary minus), TRUE/FALSE, parentheses, = != <> < <= > >=,
// AND OR XOR NOT, [NOT] LIKE with % and _ (escape with \), [NOT] IN (list), EXISTS attr.
// Not supported, and rejected when the trigger loads: functions (LOWER(...), ...), arithmetic.
// Types follow CESQL: attributes are strings on the wire and are cast to the other operand's
// type (integer or boolean); a missing attribute or a failed cast makes the whole filter fail,
// as an evaluation error does in Knative.
import { ConfigError } from '../../functions/_shared/errors.js';

export type Attributes = Readonly<Record<string, string>>;
type Value = string | number | boolean;

type Node =
  | { readonly k: 'lit'; readonly v: Value }
  | { readonly k: 'attr'; readonly name: string }
  | { readonly k: 'exists'; readonly name: string }
  | { readonly k: 'not'; readonly e: Node }
  | { readonly k: 'logic'; readonly op: 'AND' | 'OR' | 'XOR'; readonly l: Node; readonly r: Node }
  | { readonly k: 'cmp'; readonly op: string; readonly l: Node; readonly r: Node }
  | { readonly k: 'like'; readonly e: Node; readonly pattern: RegExp; readonly negate: boolean }
  | { readonly k: 'in'; readonly e: Node; readonly list: readonly Node[]; readonly negate: boolean };

type Token =
  | { readonly t: 'str'; readonly v: string; readonly at: number }
  | { readonly t: 'int'; readonly v: number; readonly at: number }
  | { readonly t: 'word'; readonly v: string; readonly at: number }
  | { readonly t: 'op'; readonly v: string; readonly at: number };

const KEYWORDS = new Set(['AND', 'OR', 'XOR', 'NOT', 'LIKE', 'IN', 'EXISTS', 'TRUE', 'FALSE']);
const COMPARISONS = new Set(['=', '!=', '<>', '<', '<=', '>', '>=']);
export const CESQL_SUBSET =
  "attributes, 'strings', integers, TRUE/FALSE, ( ), = != <> < <= > >=, AND OR XOR NOT, [NOT] LIKE, [NOT] IN (...), EXISTS";

class EvalError extends Error {}

function reject(expression: string, why: string): never {
  throw new ConfigError(`cesql "${expression}": ${why} (the local broker supports ${CESQL_SUBSET})`);
}

function tokenize(src: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src.charAt(i);
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'" || c === '"') {
      const start = i;
      let value = '';
      i++;
      for (;;) {
        if (i >= src.length) reject(src, `unterminated string at ${start}`);
        const ch = src.charAt(i);
        if (ch === '\\' && i + 1 < src.length) {
          value += src.charAt(i + 1);
          i += 2;
        } else if (ch === c && src.charAt(i + 1) === c) {
          value += c;
          i += 2;
        } else if (ch === c) {
          i++;
          break;
        } else {
          value += ch;
          i++;
        }
      }
      tokens.push({ t: 'str', v: value, at: start });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9]+/.exec(src.slice(i))?.[0] ?? '';
      if (/^[.a-zA-Z_]/.test(src.slice(i + m.length))) reject(src, `only integer numbers are supported, at ${i}`);
      tokens.push({ t: 'int', v: Number(m), at: i });
      i += m.length;
    } else if (/[a-zA-Z_]/.test(c)) {
      const m = /^[a-zA-Z0-9_]+/.exec(src.slice(i))?.[0] ?? '';
      tokens.push({ t: 'word', v: m, at: i });
      i += m.length;
    } else {
      const two = src.slice(i, i + 2);
      if (two === '!=' || two === '<>' || two === '<=' || two === '>=') {
        tokens.push({ t: 'op', v: two, at: i });
        i += 2;
      } else if ('=<>(),-'.includes(c)) {
        tokens.push({ t: 'op', v: c, at: i });
        i++;
      } else {
        reject(
          src,
          `unsupported character "${c}" at ${i}${'+*/%'.includes(c) ? ' (arithmetic is not supported)' : ''}`,
        );
      }
    }
  }
  return tokens;
}

class Parser {
  private pos = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: readonly Token[],
  ) {}

  parse(): Node {
    const node = this.or();
    const extra = this.tokens[this.pos];
    if (extra !== undefined) reject(this.src, `unexpected "${String(extra.v)}" at ${extra.at}`);
    return node;
  }

  private peekWord(word: string, ahead = 0): boolean {
    const t = this.tokens[this.pos + ahead];
    return t?.t === 'word' && t.v.toUpperCase() === word;
  }

  private peekOp(op: string): boolean {
    const t = this.tokens[this.pos];
    return t?.t === 'op' && t.v === op;
  }

  private next(): Token {
    const t = this.tokens[this.pos++];
    if (t === undefined) reject(this.src, 'unexpected end of expression');
    return t;
  }

  private expectOp(op: string): void {
    const t = this.next();
    if (t.t !== 'op' || t.v !== op) reject(this.src, `expected "${op}" at ${t.at}`);
  }

  private logic(op: 'AND' | 'OR' | 'XOR', operand: () => Node): Node {
    let left = operand();
    while (this.peekWord(op)) {
      this.pos++;
      left = { k: 'logic', op, l: left, r: operand() };
    }
    return left;
  }

  private or(): Node {
    return this.logic('OR', () => this.xor());
  }

  private xor(): Node {
    return this.logic('XOR', () => this.and());
  }

  private and(): Node {
    return this.logic('AND', () => this.not());
  }

  private not(): Node {
    if (this.peekWord('NOT')) {
      this.pos++;
      return { k: 'not', e: this.not() };
    }
    return this.predicate();
  }

  private predicate(): Node {
    const left = this.primary();
    const t = this.tokens[this.pos];
    if (t?.t === 'op' && COMPARISONS.has(t.v)) {
      this.pos++;
      return { k: 'cmp', op: t.v === '<>' ? '!=' : t.v, l: left, r: this.primary() };
    }
    const negate = this.peekWord('NOT') && (this.peekWord('LIKE', 1) || this.peekWord('IN', 1));
    if (negate) this.pos++;
    if (this.peekWord('LIKE')) {
      this.pos++;
      const p = this.next();
      if (p.t !== 'str') reject(this.src, `LIKE needs a string pattern at ${p.at}`);
      return { k: 'like', e: left, pattern: likePattern(p.v), negate };
    }
    if (this.peekWord('IN')) {
      this.pos++;
      this.expectOp('(');
      const list: Node[] = [this.primary()];
      while (this.peekOp(',')) {
        this.pos++;
        list.push(this.primary());
      }
      this.expectOp(')');
      return { k: 'in', e: left, list, negate };
    }
    return left;
  }

  private primary(): Node {
    const t = this.next();
    if (t.t === 'str') return { k: 'lit', v: t.v };
    if (t.t === 'int') return { k: 'lit', v: t.v };
    if (t.t === 'op' && t.v === '(') {
      const inner = this.or();
      this.expectOp(')');
      return inner;
    }
    if (t.t === 'op' && t.v === '-') {
      const n = this.next();
      if (n.t !== 'int') reject(this.src, `"-" must precede an integer at ${t.at} (arithmetic is not supported)`);
      return { k: 'lit', v: -n.v };
    }
    if (t.t === 'word') {
      const upper = t.v.toUpperCase();
      if (upper === 'TRUE' || upper === 'FALSE') return { k: 'lit', v: upper === 'TRUE' };
      if (upper === 'EXISTS') {
        const name = this.next();
        if (name.t !== 'word' || KEYWORDS.has(name.v.toUpperCase()))
          reject(this.src, `EXISTS needs an attribute name at ${name.at}`);
        return { k: 'exists', name: attributeName(this.src, name.v) };
      }
      if (this.peekOp('(')) reject(this.src, `function ${t.v}() is not supported`);
      if (KEYWORDS.has(upper)) reject(this.src, `unexpected ${upper} at ${t.at}`);
      return { k: 'attr', name: attributeName(this.src, t.v) };
    }
    return reject(this.src, `unexpected "${String(t.v)}" at ${t.at}`);
  }
}

function attributeName(src: string, name: string): string {
  if (!/^[a-z0-9]+$/.test(name)) reject(src, `attribute names are lowercase letters and digits, got "${name}"`);
  return name;
}

function likePattern(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === '\\' && i + 1 < pattern.length) re += escapeRegExp(pattern.charAt(++i));
    else if (c === '%') re += '[\\s\\S]*';
    else if (c === '_') re += '[\\s\\S]';
    else re += escapeRegExp(c);
  }
  return new RegExp(`^${re}$`);
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

function toInteger(v: Value): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'boolean') throw new EvalError('boolean is not an integer');
  if (!/^[+-]?\d+$/.test(v.trim())) throw new EvalError(`"${v}" is not an integer`);
  return Number(v);
}

function toBoolean(v: Value): boolean {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') {
    const lower = v.toLowerCase();
    if (lower === 'true' || lower === 'false') return lower === 'true';
  }
  throw new EvalError(`"${String(v)}" is not a boolean`);
}

/** Equality after CESQL's implicit cast of the string side to the other side's type. */
function equal(a: Value, b: Value): boolean {
  if (typeof a === 'number' || typeof b === 'number') return toInteger(a) === toInteger(b);
  if (typeof a === 'boolean' || typeof b === 'boolean') return toBoolean(a) === toBoolean(b);
  return a === b;
}

function evaluate(node: Node, attrs: Attributes): Value {
  switch (node.k) {
    case 'lit':
      return node.v;
    case 'attr': {
      const v = attrs[node.name];
      if (v === undefined) throw new EvalError(`missing attribute ${node.name}`);
      return v;
    }
    case 'exists':
      return Object.hasOwn(attrs, node.name);
    case 'not':
      return !toBoolean(evaluate(node.e, attrs));
    case 'logic': {
      const l = toBoolean(evaluate(node.l, attrs));
      if (node.op === 'AND' && !l) return false;
      if (node.op === 'OR' && l) return true;
      const r = toBoolean(evaluate(node.r, attrs));
      return node.op === 'XOR' ? l !== r : r;
    }
    case 'cmp': {
      const l = evaluate(node.l, attrs);
      const r = evaluate(node.r, attrs);
      if (node.op === '=') return equal(l, r);
      if (node.op === '!=') return !equal(l, r);
      const a = toInteger(l);
      const b = toInteger(r);
      return node.op === '<' ? a < b : node.op === '<=' ? a <= b : node.op === '>' ? a > b : a >= b;
    }
    case 'like': {
      const v = evaluate(node.e, attrs);
      const s = typeof v === 'string' ? v : String(v);
      return node.pattern.test(s) !== node.negate;
    }
    case 'in': {
      const v = evaluate(node.e, attrs);
      return node.list.some((item) => equal(v, evaluate(item, attrs))) !== node.negate;
    }
  }
}

/**
 * Compiles a CESQL expression once (ConfigError for anything outside the subset) into a
 * predicate over an event's attributes; an evaluation error (missing attribute, bad cast)
 * means "does not match".
 */
export function compileCesql(expression: string): (attrs: Attributes) => boolean {
  const tree = new Parser(expression, tokenize(expression)).parse();
  return (attrs) => {
    try {
      return toBoolean(evaluate(tree, attrs));
    } catch (e) {
      if (e instanceof EvalError) return false;
      throw e;
    }
  };
}
