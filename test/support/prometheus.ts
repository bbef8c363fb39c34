// Reading a /metrics answer in tests: parsed by a Prometheus text-format parser (not by regular
// expressions), then summed over the samples whose labels match.
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';

export interface Scrape {
  readonly families: ReadonlyMap<string, ParsedFamily>;
  /** Sum of a counter's or gauge's samples whose labels include `labels` (0 when none). */
  value(name: string, labels?: Readonly<Record<string, string>>): number;
  /** Sum of a histogram's `_count` over the matching samples. */
  count(name: string, labels?: Readonly<Record<string, string>>): number;
  /** The label sets of a family's samples. */
  labelSets(name: string): Readonly<Record<string, string>>[];
}

export function parseScrape(text: string): Scrape {
  // The parser folds a histogram's series into one sample and loses their labels when the
  // histogram has labels of its own; read as untyped, `_bucket`, `_sum` and `_count` are
  // families of labelled samples.
  const untyped = text.replace(/^# TYPE (\S+) histogram$/gm, '# TYPE $1 untyped');
  // Label set after label set, the series of one histogram alternate: gather them by name.
  const families = new Map<string, ParsedFamily>();
  for (const f of parsePrometheusTextFormat(untyped)) {
    const seen = families.get(f.name);
    families.set(f.name, seen === undefined ? f : { ...seen, metrics: [...seen.metrics, ...f.metrics] });
  }
  const matching = (name: string, labels: Readonly<Record<string, string>>) =>
    (families.get(name)?.metrics ?? []).filter((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return {
    families,
    value: (name, labels = {}) => matching(name, labels).reduce((sum, m) => sum + Number(m.value ?? 0), 0),
    count: (name, labels = {}) => matching(`${name}_count`, labels).reduce((sum, m) => sum + Number(m.value ?? 0), 0),
    labelSets: (name) => (families.get(name)?.metrics ?? []).map((m) => m.labels ?? {}),
  };
}

export async function scrape(url: string): Promise<Scrape> {
  const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
  if (res.status !== 200) throw new Error(`GET ${url} answered ${res.status}`);
  return parseScrape(await res.text());
}
