// Validates rendered manifests against Kaskade's schemas of the Knative resources (schemas.ts)
// and checks what no schema can: references between resources resolve.
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { SCHEMAS } from './schemas.js';

export interface Resource {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  spec?: Record<string, unknown>;
}

export interface ManifestProblem {
  resource: string;
  message: string;
}

const ajv = new Ajv({ allErrors: true, strict: true, strictTypes: false, strictRequired: false, allowUnionTypes: true });
const validators = new Map<string, ValidateFunction>(Object.entries(SCHEMAS).map(([k, s]) => [k, ajv.compile(s)]));

/** Parses a multi-document YAML stream into resources; YAML syntax errors throw. */
export function parseManifests(yamlText: string): Resource[] {
  const docs = parseAllDocuments(yamlText);
  const out: Resource[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value: unknown = doc.toJS();
    if (value !== null && value !== undefined) out.push(value as Resource);
  }
  return out;
}

function label(r: Resource): string {
  return `${r.kind ?? '?'}/${r.metadata?.name ?? '?'}`;
}

/**
 * Schema problems of each resource, references (Trigger → Broker/Service, sinks) that do not
 * resolve, and settings a cluster would not honour.
 */
export function validateManifests(resources: readonly Resource[]): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const names = new Set(resources.map((r) => `${r.kind}/${r.metadata?.name}`));
  for (const r of resources) {
    const validate = validators.get(`${r.apiVersion} ${r.kind}`);
    if (!validate) {
      problems.push({ resource: label(r), message: `no schema for ${r.apiVersion} ${r.kind}` });
      continue;
    }
    if (!validate(r)) {
      for (const e of validate.errors ?? []) problems.push({ resource: label(r), message: `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}` });
      continue;
    }
    for (const ref of references(r)) {
      if (!names.has(ref)) problems.push({ resource: label(r), message: `refers to ${ref}, which is not in the manifests` });
    }
    if (r.kind === 'PingSource' && r.metadata.annotations?.[LOCAL_SUSPEND_ANNOTATION] !== undefined) {
      problems.push({ resource: label(r), message: `${LOCAL_SUSPEND_ANNOTATION} means nothing to Knative: this PingSource would fire on a cluster; leave the schedule out instead (it is opt-in: knative/components/schedule)` });
    }
  }
  return problems;
}

/** Only the local runtime honours it; Knative has no way to suspend a PingSource. */
const LOCAL_SUSPEND_ANNOTATION = 'kaskade.dev/suspended';

function references(r: Resource): string[] {
  const spec = r.spec ?? {};
  const refs: string[] = [];
  const dest = (d: unknown): void => {
    const ref = (d as { ref?: { kind?: string; name?: string } } | undefined)?.ref;
    if (ref?.kind && ref.name) refs.push(`${ref.kind}/${ref.name}`);
  };
  if (r.kind === 'Trigger') {
    refs.push(`Broker/${String(spec.broker)}`);
    dest(spec.subscriber);
  }
  if (r.kind === 'PingSource') dest(spec.sink);
  const delivery = spec.delivery as { deadLetterSink?: unknown } | undefined;
  dest(delivery?.deadLetterSink);
  return refs;
}
