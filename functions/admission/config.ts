// The admission function's configuration, read once at start from the environment (README.md).
import { inheritedAuthEnv, type ContainerEnv } from '../_shared/auth.js';
import { envInt, envString, type Env } from '../_shared/config.js';
import { ConfigError } from '../_shared/errors.js';
import { DEFAULT_NODE_WEIGHTS, parseNodeWeights, type NodeWeights } from './capacity.js';

export interface AdmissionConfig {
  /** `nodes`: capacity from node labels (an edge site); `none`: admit everyone (the centre). */
  capacityRule: 'nodes' | 'none';
  /** Node label whose value names the machine class. */
  nodeLabel: string;
  /** Sessions per machine class; classes not listed (or 0) take no work and are kept off by affinity. */
  nodeWeights: NodeWeights;
  /** Preferred-scheduling weights per machine class (Kubernetes node affinity, 1..100). */
  nodePreference: NodeWeights;
  /** The centre's admission URL, answered with `offloading: 1` when the edge is full. */
  centreUrl: string | undefined;
  /** A session ends this long after its last renewal (ms). */
  leaseMs: number;
  /** How long an admission waits for the type's service to become Ready (ms); then 503. */
  readyTimeoutMs: number;
  /** Container image of the edge services admission creates. */
  serviceImage: string;
  /** This admission's own URL, given to the edge services so the clients' traffic renews leases. */
  selfUrl: string | undefined;
  /** Model locations handed to the edge services as MODEL_URI (unset: they use their built-in model). */
  modelUris: Readonly<Partial<Record<'scalar' | 'image', string>>>;
  /** Admission's own authentication, which the edge services it creates get too (empty: off). */
  authEnv: ContainerEnv[];
}

export function loadConfig(env: Env = process.env): AdmissionConfig {
  const rule = envString(env, 'EDGE_CAPACITY_RULE', 'nodes');
  if (rule !== 'nodes' && rule !== 'none')
    throw new ConfigError(`EDGE_CAPACITY_RULE must be nodes or none, got "${rule}"`);
  const preference = parseNodeWeights(
    envString(env, 'EDGE_NODE_PREFERENCE', 'xavier=70,tx2=30'),
    'EDGE_NODE_PREFERENCE',
  );
  for (const [machine, weight] of Object.entries(preference)) {
    if (weight < 1 || weight > 100)
      throw new ConfigError(`EDGE_NODE_PREFERENCE weights must be in 1..100, got ${machine}=${weight}`);
  }
  const rawWeights = env.EDGE_NODE_WEIGHTS;
  return {
    capacityRule: rule,
    nodeLabel: envString(env, 'EDGE_NODE_LABEL', 'machine'),
    nodeWeights: rawWeights === undefined || rawWeights === '' ? DEFAULT_NODE_WEIGHTS : parseNodeWeights(rawWeights),
    nodePreference: preference,
    centreUrl: optionalUrl(env, 'EDGE_CENTRE_URL'),
    leaseMs: envInt(env, 'EDGE_LEASE_S', 60, { min: 1, max: 86_400 }) * 1000,
    readyTimeoutMs: envInt(env, 'EDGE_READY_TIMEOUT_MS', 60_000, { min: 100, max: 3_600_000 }),
    serviceImage: envString(env, 'EDGE_SERVICE_IMAGE', 'ghcr.io/kaskade-dev/kaskade:0.1.0'),
    selfUrl: optionalUrl(env, 'EDGE_ADMISSION_URL'),
    modelUris: {
      ...(env.EDGE_SCALAR_MODEL_URI ? { scalar: env.EDGE_SCALAR_MODEL_URI } : {}),
      ...(env.EDGE_IMAGE_MODEL_URI ? { image: env.EDGE_IMAGE_MODEL_URI } : {}),
    },
    authEnv: inheritedAuthEnv(env),
  };
}

function optionalUrl(env: Env, name: string): string | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  try {
    const url = new URL(raw);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`, { cause: e });
  }
  return raw.endsWith('/') ? raw : `${raw}/`;
}
