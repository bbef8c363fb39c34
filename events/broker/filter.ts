// Trigger filters, compiled once per trigger into a predicate over event attributes.
// `filter.attributes`: exact match on each listed attribute, ANDed; an empty value matches
// anything (Knative's wildcard); no attributes pass everything.
// `filters` (overrides `filter` when present): every entry must pass; each entry is one
// dialect: exact / prefix / suffix (every listed attribute, ANDed), all, any, not, cesql
// (the subset in cesql.ts; anything else is rejected at load). Empty `all` and `any` pass.
import { ConfigError } from '../../functions/_shared/errors.js';
import { compileCesql, type Attributes } from './cesql.js';
import type { FilterDialect } from './spec.js';

export type Predicate = (attrs: Attributes) => boolean;

const PASS: Predicate = () => true;
const DIALECTS = ['exact', 'prefix', 'suffix', 'all', 'any', 'not', 'cesql'] as const;

function matchEach(
  map: Readonly<Record<string, string>>,
  test: (value: string, wanted: string) => boolean,
  where: string,
): Predicate {
  const entries = Object.entries(map);
  if (entries.length === 0) throw new ConfigError(`${where}: needs at least one attribute`);
  return (attrs) =>
    entries.every(([name, wanted]) => {
      const value = attrs[name];
      return value !== undefined && test(value, wanted);
    });
}

function compileDialect(filter: FilterDialect, where: string): Predicate {
  const present = DIALECTS.filter((d) => filter[d] !== undefined);
  if (present.length !== 1) {
    throw new ConfigError(
      `${where}: each filter holds exactly one of ${DIALECTS.join(', ')}; found ${present.length === 0 ? 'none' : present.join(' and ')}`,
    );
  }
  if (filter.exact !== undefined) return matchEach(filter.exact, (v, w) => v === w, `${where}.exact`);
  if (filter.prefix !== undefined) return matchEach(filter.prefix, (v, w) => v.startsWith(w), `${where}.prefix`);
  if (filter.suffix !== undefined) return matchEach(filter.suffix, (v, w) => v.endsWith(w), `${where}.suffix`);
  if (filter.all !== undefined) return allOf(filter.all, `${where}.all`);
  if (filter.any !== undefined) {
    const parts = filter.any.map((f, i) => compileDialect(f, `${where}.any[${i}]`));
    return parts.length === 0 ? PASS : (attrs) => parts.some((p) => p(attrs));
  }
  if (filter.not !== undefined) {
    const inner = compileDialect(filter.not, `${where}.not`);
    return (attrs) => !inner(attrs);
  }
  const expression = filter.cesql ?? '';
  try {
    return compileCesql(expression);
  } catch (e) {
    throw new ConfigError(`${where}.${(e as Error).message}`, { cause: e });
  }
}

function allOf(filters: readonly FilterDialect[], where: string): Predicate {
  const parts = filters.map((f, i) => compileDialect(f, `${where}[${i}]`));
  if (parts.length === 0) return PASS;
  if (parts.length === 1 && parts[0] !== undefined) return parts[0];
  return (attrs) => parts.every((p) => p(attrs));
}

export interface TriggerFilters {
  readonly filter?: { readonly attributes?: Readonly<Record<string, string>> | undefined } | undefined;
  readonly filters?: readonly FilterDialect[] | undefined;
}

/** The trigger's predicate; ConfigError naming `where` (e.g. `trigger splitter`) when invalid. */
export function compileTriggerFilter(spec: TriggerFilters, where: string): Predicate {
  if (spec.filters !== undefined && spec.filters.length > 0) return allOf(spec.filters, `${where}: filters`);
  const entries = Object.entries(spec.filter?.attributes ?? {}).filter(([, wanted]) => wanted !== '');
  if (entries.length === 0) return PASS;
  return (attrs) => entries.every(([name, wanted]) => attrs[name] === wanted);
}
