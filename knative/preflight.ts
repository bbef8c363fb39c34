// The deploy preflight: before anything is built or applied, ask the cluster's Kubernetes API
// whether it can run the rendered overlay. Knative Serving and Eventing types at the versions
// the manifests use, a Broker class, Eventing's OIDC tokens when the Broker's subscribers demand
// them, and per overlay the PVC feature flags (nfs) or the Workload Identity annotation (gcs).
// Each missing piece is one finding with the command that fixes it.
import {
  ApiException,
  ApisApi,
  CoreV1Api,
  KubernetesObjectApi,
  type KubeConfig,
  type V1APIResource,
} from '@kubernetes/client-node';
import { UnavailableError } from '../functions/_shared/errors.js';
import type { Overlay } from './deploy.js';
import type { Resource } from './validate.js';

/** The Knative release the fix commands install (the version the manifests are validated against). */
export const KNATIVE_VERSION = 'v1.16.0';
const SERVING_RELEASE = `https://github.com/knative/serving/releases/download/knative-${KNATIVE_VERSION}`;
const EVENTING_RELEASE = `https://github.com/knative/eventing/releases/download/knative-${KNATIVE_VERSION}`;

export interface Finding {
  /** What is missing, in one line. */
  missing: string;
  /** The command that fixes it. */
  fix: string;
}

/** Which release file installs each Knative API group's types. */
const CRD_FILES: Record<string, string> = {
  'serving.knative.dev': `${SERVING_RELEASE}/serving-crds.yaml`,
  'eventing.knative.dev': `${EVENTING_RELEASE}/eventing-crds.yaml`,
  'sources.knative.dev': `${EVENTING_RELEASE}/eventing-crds.yaml`,
};

export const PVC_FLAGS = [
  'kubernetes.podspec-persistent-volume-claim',
  'kubernetes.podspec-persistent-volume-write',
] as const;
export const WORKLOAD_IDENTITY = 'iam.gke.io/gcp-service-account';
/** Knative Eventing's feature that makes the broker send each subscriber an OIDC token. */
export const OIDC_FLAG = 'authentication-oidc';
const DEFAULT_BROKER_CLASS = 'MTChannelBasedBroker';

/** Discovery of one group version's resources (the client's own lookup, made callable). */
class Discovery extends KubernetesObjectApi {
  find(apiVersion: string, kind: string): Promise<V1APIResource | undefined> {
    return this.resource(apiVersion, kind);
  }
}

function is404(e: unknown): boolean {
  return e instanceof ApiException && (e as ApiException<unknown>).code === 404;
}

/** The Knative types the deploy needs: Serving's Service and Eventing's Broker and Trigger always, plus every Knative kind the overlay renders. */
export function requiredKinds(resources: readonly Resource[]): Array<{ apiVersion: string; kind: string }> {
  const wanted = new Map<string, { apiVersion: string; kind: string }>();
  const add = (apiVersion: string, kind: string): void =>
    void wanted.set(`${apiVersion} ${kind}`, { apiVersion, kind });
  add('serving.knative.dev/v1', 'Service');
  add('eventing.knative.dev/v1', 'Broker');
  add('eventing.knative.dev/v1', 'Trigger');
  for (const r of resources) if (r.apiVersion.split('/')[0]?.endsWith('.knative.dev')) add(r.apiVersion, r.kind);
  return [...wanted.values()];
}

/**
 * Everything the cluster behind `kc` lacks for `resources` (the rendered overlay); empty when
 * it is ready. A refused or unreachable API is an UnavailableError, not a finding.
 */
export async function preflight(kc: KubeConfig, resources: readonly Resource[], overlay: Overlay): Promise<Finding[]> {
  const findings: Finding[] = [];
  const apis = kc.makeApiClient(ApisApi);
  const discovery = kc.makeApiClient(Discovery);
  const core = kc.makeApiClient(CoreV1Api);
  const guard = async <T>(what: string, call: () => Promise<T>): Promise<T | undefined> => {
    try {
      return await call();
    } catch (e) {
      if (is404(e)) return undefined;
      throw new UnavailableError(
        `preflight: ${what} failed against ${kc.getCurrentCluster()?.server ?? 'the cluster'}: ${e instanceof Error ? e.message : String(e)}`,
        { cause: e },
      );
    }
  };

  const groups = (await guard('GET /apis', () => apis.getAPIVersions()))?.groups ?? [];
  for (const { apiVersion, kind } of requiredKinds(resources)) {
    const [group = '', version = ''] = apiVersion.split('/');
    const served = groups.find((g) => g.name === group)?.versions.map((v) => v.version) ?? [];
    const found = served.includes(version)
      ? await guard(`discovery of ${apiVersion}`, () => discovery.find(apiVersion, kind))
      : undefined;
    if (found) continue;
    const have = served.length > 0 ? ` (the cluster serves ${group} ${served.join(', ')})` : '';
    findings.push({
      missing: `${kind}.${apiVersion} is not installed${have}`,
      fix: `kubectl apply -f ${CRD_FILES[group] ?? `<the CRDs of ${group}>`}`,
    });
  }

  const brokers = resources.filter((r) => r.kind === 'Broker' && r.apiVersion.startsWith('eventing.knative.dev/'));
  const defaults = await guard('GET configmap knative-eventing/config-br-defaults', () =>
    core.readNamespacedConfigMap({ name: 'config-br-defaults', namespace: 'knative-eventing' }),
  );
  const defaultClass = /brokerClass:\s*(\S+)/.exec(defaults?.data?.['default-br-config'] ?? '')?.[1];
  for (const b of brokers.length > 0 ? brokers : [undefined]) {
    const named = b?.metadata.annotations?.['eventing.knative.dev/broker.class'];
    const name = b ? `Broker ${b.metadata.name}` : 'a Broker';
    if (named === undefined && defaultClass === undefined) {
      findings.push({
        missing: `no Broker class: ${name} names none and knative-eventing/config-br-defaults sets no default brokerClass`,
        fix: `kubectl apply -f ${EVENTING_RELEASE}/eventing-core.yaml -f ${EVENTING_RELEASE}/in-memory-channel.yaml -f ${EVENTING_RELEASE}/mt-channel-broker.yaml`,
      });
    } else if (named !== undefined && named !== defaultClass && named !== DEFAULT_BROKER_CLASS) {
      findings.push({
        missing: `${name} asks for Broker class ${named}, which this preflight cannot confirm is installed`,
        fix: `install the ${named} broker implementation, or drop the eventing.knative.dev/broker.class annotation`,
      });
    }
  }

  const strict = oidcSubscribers(resources);
  if (strict.length > 0) {
    const features = await guard('GET configmap knative-eventing/config-features', () =>
      core.readNamespacedConfigMap({ name: 'config-features', namespace: 'knative-eventing' }),
    );
    if (features?.data?.[OIDC_FLAG] !== 'enabled')
      findings.push({
        missing: `knative-eventing/config-features does not enable ${OIDC_FLAG}: the broker would deliver without a token, and ${strict.join(', ')} answer such deliveries 401`,
        fix: `kubectl patch configmap/config-features -n knative-eventing --type merge -p '${JSON.stringify({ data: { [OIDC_FLAG]: 'enabled' } })}'`,
      });
  }

  if (overlay === 'nfs') {
    const features = await guard('GET configmap knative-serving/config-features', () =>
      core.readNamespacedConfigMap({ name: 'config-features', namespace: 'knative-serving' }),
    );
    const off = PVC_FLAGS.filter((f) => features?.data?.[f] !== 'enabled');
    if (off.length > 0) {
      const patch = JSON.stringify({ data: Object.fromEntries(PVC_FLAGS.map((f) => [f, 'enabled'])) });
      findings.push({
        missing: `knative-serving/config-features does not enable ${off.join(', ')} (the nfs overlay mounts a PVC)`,
        fix: `kubectl patch configmap/config-features -n knative-serving --type merge -p '${patch}'`,
      });
    }
  }

  // gcs, and gpu (which builds on gcs): whatever reads or writes a bucket needs Workload Identity.
  if (bucketUsers(resources).size > 0) {
    for (const sa of resources.filter(
      (r) => r.kind === 'ServiceAccount' && bucketUsers(resources).has(r.metadata.name),
    )) {
      const gsa = sa.metadata.annotations?.[WORKLOAD_IDENTITY];
      if (
        gsa !== undefined &&
        /^[a-z][\w-]*@[a-z][\w-]*\.iam\.gserviceaccount\.com$/.test(gsa) &&
        !gsa.includes('PROJECT_ID')
      )
        continue;
      findings.push({
        missing: `ServiceAccount ${sa.metadata.name} has ${gsa === undefined ? 'no' : `a placeholder (${gsa})`} ${WORKLOAD_IDENTITY} annotation: the functions cannot reach the bucket`,
        fix: `set ${WORKLOAD_IDENTITY}: kaskade-function@<project>.iam.gserviceaccount.com in knative/overlays/gcs/kustomization.yaml, and gcloud iam service-accounts add-iam-policy-binding kaskade-function@<project>.iam.gserviceaccount.com --role roles/iam.workloadIdentityUser --member 'serviceAccount:<project>.svc.id.goog[${sa.metadata.namespace ?? 'kaskade'}/${sa.metadata.name}]'`,
      });
    }
  }
  return findings;
}

type ServiceSpec = {
  template?: {
    spec?: { serviceAccountName?: string; containers?: Array<{ env?: Array<{ name?: string; value?: string }> }> };
  };
};

/** Knative Services that a Trigger delivers to and that accept only Eventing's OIDC tokens (KASKADE_AUTH_OIDC_AUDIENCE). */
export function oidcSubscribers(resources: readonly Resource[]): string[] {
  const subscribers = new Set(
    resources
      .filter((r) => r.kind === 'Trigger')
      .map((r) => (r.spec as { subscriber?: { ref?: { kind?: string; name?: string } } } | undefined)?.subscriber?.ref)
      .filter((ref) => ref?.kind === 'Service')
      .map((ref) => ref?.name),
  );
  return resources
    .filter(
      (r) =>
        r.kind === 'Service' && r.apiVersion.startsWith('serving.knative.dev/') && subscribers.has(r.metadata.name),
    )
    .filter((r) =>
      (r.spec as ServiceSpec | undefined)?.template?.spec?.containers?.some((c) =>
        c.env?.some((e) => e.name === 'KASKADE_AUTH_OIDC_AUDIENCE' && (e.value ?? '') !== ''),
      ),
    )
    .map((r) => r.metadata.name)
    .sort();
}

/** ServiceAccounts of the Services that read or write a `gs://` location. */
export function bucketUsers(resources: readonly Resource[]): Set<string> {
  const names = new Set<string>();
  for (const r of resources) {
    if (r.kind !== 'Service') continue;
    const spec = (
      r.spec as
        | {
            template?: {
              spec?: { serviceAccountName?: string; containers?: Array<{ env?: Array<{ value?: string }> }> };
            };
          }
        | undefined
    )?.template?.spec;
    if (spec?.containers?.some((c) => c.env?.some((e) => e.value?.startsWith('gs://'))))
      names.add(spec.serviceAccountName ?? 'default');
  }
  return names;
}

/** One line per finding: what is missing, then the command that fixes it. */
export function formatFindings(findings: readonly Finding[]): string {
  return findings.map((f) => `missing: ${f.missing}; fix: ${f.fix}`).join('\n');
}
