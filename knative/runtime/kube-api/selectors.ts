// Kubernetes label and field selectors (`app=layer,tier!=edge,gpu`, `env in (a,b)`, `!legacy`;
// fields: `metadata.name=x`, `metadata.namespace!=y`). A malformed selector is a 400 naming it.
import { BadInputError } from '../../../functions/_shared/errors.js';

export type Matcher = (labels: Readonly<Record<string, string>>) => boolean;

/** One matcher for a whole label selector; an empty or absent selector matches everything. */
export function labelMatcher(selector: string | null | undefined): Matcher {
  if (!selector || selector.trim() === '') return () => true;
  const tests = splitTerms(selector).map((term) => labelTerm(term.trim(), selector));
  return (labels) => tests.every((t) => t(labels));
}

/** A field selector over the fields this API supports: metadata.name and metadata.namespace. */
export function fieldMatcher(
  selector: string | null | undefined,
): (o: { metadata: { name: string; namespace?: string } }) => boolean {
  if (!selector || selector.trim() === '') return () => true;
  const tests = selector.split(',').map((term) => {
    const m = /^\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*([^\s]*)\s*$/.exec(term);
    if (!m)
      throw new BadInputError(
        `fieldSelector: "${term}" is not supported (only metadata.name and metadata.namespace with =, ==, !=)`,
      );
    const [, field, op, value] = m as unknown as [string, string, string, string];
    return (o: { metadata: { name: string; namespace?: string } }): boolean => {
      const actual = field === 'metadata.name' ? o.metadata.name : (o.metadata.namespace ?? '');
      return op === '!=' ? actual !== value : actual === value;
    };
  });
  return (o) => tests.every((t) => t(o));
}

/** Splits on commas outside parentheses (`a in (x,y),b`). */
function splitTerms(selector: string): string[] {
  const terms: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < selector.length; i += 1) {
    const c = selector[i];
    if (c === '(') depth += 1;
    else if (c === ')') depth -= 1;
    else if (c === ',' && depth === 0) {
      terms.push(selector.slice(start, i));
      start = i + 1;
    }
  }
  terms.push(selector.slice(start));
  return terms;
}

const KEY = '[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?';

function labelTerm(term: string, whole: string): Matcher {
  const bad = (): BadInputError => new BadInputError(`labelSelector: cannot parse "${term}" in "${whole}"`);
  let m = new RegExp(`^(${KEY})\\s*(==|=|!=)\\s*([-A-Za-z0-9_.]*)$`).exec(term);
  if (m) {
    const key = m[1] ?? '';
    const op = m[3];
    const value = m[4] ?? '';
    return op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  m = new RegExp(`^(${KEY})\\s+(in|notin)\\s*\\(([^)]*)\\)$`).exec(term);
  if (m) {
    const key = m[1] ?? '';
    const values = new Set((m[4] ?? '').split(',').map((v) => v.trim()));
    return m[3] === 'in'
      ? (l) => l[key] !== undefined && values.has(l[key])
      : (l) => l[key] === undefined || !values.has(l[key]);
  }
  m = new RegExp(`^(!?)\\s*(${KEY})$`).exec(term);
  if (m) {
    const key = m[2] ?? '';
    return m[1] === '!' ? (l) => l[key] === undefined : (l) => l[key] !== undefined;
  }
  throw bad();
}
