// Validates rendered manifests the way a cluster would: each Knative resource against Knative's
// own published schema (the CRDs' openAPIV3Schema, as `@kubernetes-models/knative` generates
// validators from them), then against the rules Knative's admission webhooks add on top
// (autoscaling annotations and their ranges, the revision timeout, durations, filter dialects,
// pod-spec fields), which the local runtime's reading of manifests already enforces, so they
// are read once, there. Core resources get the small schemas of core-schemas.ts. References
// between resources (Trigger → Broker/Service, sinks) must resolve.
import { Broker } from '@kubernetes-models/knative/eventing.knative.dev/v1/Broker';
import { Trigger } from '@kubernetes-models/knative/eventing.knative.dev/v1/Trigger';
import { Service } from '@kubernetes-models/knative/serving.knative.dev/v1/Service';
import { PingSource } from '@kubernetes-models/knative/sources.knative.dev/v1/PingSource';
import { Ajv, type ValidateFunction } from 'ajv';
import { isKaskadeError } from '../functions/_shared/errors.js';
import { CORE_SCHEMAS } from './core-schemas.js';
import { parseYaml, type RawDocument } from './runtime/manifest-source.js';
import { parseManifests as readRuntimeManifests } from './runtime/manifests.js';

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

/** Knative's published schemas, one validating model class per resource kind Kaskade ships. */
const KNATIVE_MODELS: Record<string, new (data: never) => { validate(): void }> = {
  'serving.knative.dev/v1 Service': Service,
  'eventing.knative.dev/v1 Broker': Broker,
  'eventing.knative.dev/v1 Trigger': Trigger,
  'sources.knative.dev/v1 PingSource': PingSource,
};

const ajv = new Ajv({
  allErrors: true,
  strict: true,
  strictTypes: false,
  strictRequired: false,
  allowUnionTypes: true,
});
const coreValidators = new Map<string, ValidateFunction>(
  Object.entries(CORE_SCHEMAS).map(([k, s]) => [k, ajv.compile(s)]),
);

/** The resources of a multi-document YAML stream (the runtime's one YAML reader); bad YAML throws. */
export function resourcesOf(yamlText: string, origin = 'manifests'): Resource[] {
  return parseYaml(yamlText, origin).map((d) => d.value as Resource);
}

function label(r: Resource): string {
  return `${r.kind ?? '?'}/${r.metadata?.name ?? '?'}`;
}

/**
 * Every problem a cluster would refuse the resources for, references (Trigger → Broker/Service,
 * sinks) that do not resolve, and settings a cluster would not honour.
 */
export function validateManifests(resources: readonly Resource[]): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const names = new Set(resources.map((r) => `${r.kind}/${r.metadata?.name}`));
  for (const r of resources) {
    const key = `${r.apiVersion} ${r.kind}`;
    const Model = KNATIVE_MODELS[key];
    const core = coreValidators.get(key);
    if (Model) {
      try {
        new Model(r as never).validate();
      } catch (e) {
        problems.push({ resource: label(r), message: `Knative schema: ${e instanceof Error ? e.message : String(e)}` });
        continue;
      }
    } else if (core) {
      if (!core(r)) {
        for (const e of core.errors ?? [])
          problems.push({
            resource: label(r),
            message: `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`,
          });
        continue;
      }
    } else {
      problems.push({ resource: label(r), message: `no schema for ${key}` });
      continue;
    }
    for (const ref of references(r)) {
      if (!names.has(ref))
        problems.push({ resource: label(r), message: `refers to ${ref}, which is not in the manifests` });
    }
    if (r.kind === 'PingSource' && r.metadata.annotations?.[LOCAL_SUSPEND_ANNOTATION] !== undefined) {
      problems.push({
        resource: label(r),
        message: `${LOCAL_SUSPEND_ANNOTATION} means nothing to Knative: this PingSource would fire on a cluster; leave the schedule out instead (it is opt-in: knative/components/schedule)`,
      });
    }
  }
  return [...problems, ...admissionProblems(resources)];
}

/** What Knative's webhooks would refuse, as the local runtime reads it (one reading of those rules). */
function admissionProblems(resources: readonly Resource[]): ManifestProblem[] {
  const docs: RawDocument[] = resources.map((r) => ({ origin: label(r), value: r }));
  try {
    readRuntimeManifests(docs, { namespace: 'default', allowZeroInitialScale: true });
    return [];
  } catch (e) {
    if (!isKaskadeError(e)) throw e;
    return e.message
      .split('\n')
      .slice(1)
      .map((line) => line.trim())
      .filter((line) => line !== '')
      .map((line) => ({ resource: line.split(':')[0] ?? '?', message: line }));
  }
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
