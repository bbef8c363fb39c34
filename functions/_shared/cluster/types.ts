// The Kubernetes calls Kaskade's functions make, as one small interface. The layer controller
// and edge admission use it; it is implemented once, on @kubernetes/client-node, and that one
// implementation runs in a pod on GKE and in a local worker against the runtime's API alike.

/** A Knative Service as the API holds it (serving.knative.dev/v1 Service), kept loose on purpose:
 *  callers build the manifest, the API server validates it. */
export interface KnativeService {
  apiVersion: 'serving.knative.dev/v1';
  kind: 'Service';
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
    generation?: number;
    uid?: string;
    creationTimestamp?: string;
  };
  spec: {
    template: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string>; name?: string };
      spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> };
    };
    traffic?: Array<Record<string, unknown>>;
  };
  status?: KnativeServiceStatus;
}

export interface KnativeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

export interface KnativeServiceStatus {
  observedGeneration?: number;
  conditions?: KnativeCondition[];
  url?: string;
  address?: { url?: string };
  latestReadyRevisionName?: string;
  latestCreatedRevisionName?: string;
  traffic?: Array<{ revisionName?: string; latestRevision?: boolean; percent?: number; tag?: string }>;
}

/** A cluster node as admission needs it: labels and what it can allocate. */
export interface ClusterNode {
  name: string;
  labels: Record<string, string>;
  allocatable: Record<string, string>;
}

export interface WaitOptions {
  timeoutMs: number;
  signal?: AbortSignal;
}

/** One namespace of one cluster. Every method fails with a typed error (errors.ts): 403 →
 *  ForbiddenError, 404 → NotFoundError, 409 → ConflictError, 422 → BadInputError, no answer
 *  in time → TimeoutError; other failures → UnavailableError with the cause. */
export interface Cluster {
  readonly namespace: string;
  /** Creates the service, or replaces its spec (labels and annotations merged) when it exists. */
  applyService(service: KnativeService): Promise<KnativeService>;
  /** The service, or undefined when it does not exist. */
  getService(name: string): Promise<KnativeService | undefined>;
  /** Resolves with the service once its Ready condition is True for its current generation. */
  waitReady(name: string, options: WaitOptions): Promise<KnativeService>;
  /** Merges annotations into the revision template (`template: true`, e.g. min-scale) or the
   *  service's own metadata; a null value removes the key. */
  patchAnnotations(
    name: string,
    annotations: Record<string, string | null>,
    options?: { template?: boolean },
  ): Promise<KnativeService>;
  /** Deletes the service; deleting one that does not exist is not an error. */
  deleteService(name: string): Promise<void>;
  /** Services of the namespace, optionally by label selector (`app=layer,job=j1`). */
  listServices(labelSelector?: string): Promise<KnativeService[]>;
  /** Cluster nodes, optionally by label selector. */
  listNodes(labelSelector?: string): Promise<ClusterNode[]>;
}
