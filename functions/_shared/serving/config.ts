// Serving settings, read once per process: which engine runs a loaded model and how ONNX
// Runtime is set up (threads, graph optimisation, execution providers).
import { envInt, envList, envString, type Env } from '../config.js';
import { ConfigError } from '../errors.js';

export const ENGINE_SETTINGS = ['auto', 'onnx', 'tfjs'] as const;
export type EngineSetting = (typeof ENGINE_SETTINGS)[number];

export const GRAPH_OPTIMIZATION_LEVELS = ['disabled', 'basic', 'extended', 'all'] as const;
export type GraphOptimizationLevel = (typeof GRAPH_OPTIMIZATION_LEVELS)[number];

export const EXECUTION_PROVIDERS = ['cpu', 'cuda', 'tensorrt'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

export interface OnnxSettings {
  /** Threads inside one operator (ONNX Runtime's intra-op pool). */
  readonly intraOpThreads: number;
  /** Threads running independent operators at once (inter-op pool); 1 = sequential execution. */
  readonly interOpThreads: number;
  readonly graphOptimization: GraphOptimizationLevel;
  /** Tried in order; the first that loads runs each operator it supports. */
  readonly executionProviders: readonly ExecutionProvider[];
  /**
   * Sessions on the process's engine thread (default), so the event loop serves requests while a
   * model runs; off: on the calling thread, as the Node binding does.
   */
  readonly ownThread: boolean;
}

export interface ServingConfig {
  readonly engine: EngineSetting;
  readonly onnx: OnnxSettings;
}

function oneOf<T extends string>(name: string, value: string, allowed: readonly T[]): T {
  const found = allowed.find((a) => a === value);
  if (found === undefined) throw new ConfigError(`${name} must be one of ${allowed.join(', ')}, got "${value}"`);
  return found;
}

function onOff(name: string, value: string): boolean {
  if (value !== 'on' && value !== 'off') throw new ConfigError(`${name} must be on or off, got "${value}"`);
  return value === 'on';
}

export function loadServingConfig(env: Env = process.env): ServingConfig {
  const providers = envList(env, 'KASKADE_ONNX_EXECUTION_PROVIDERS', ['cpu']).map((p) =>
    oneOf('KASKADE_ONNX_EXECUTION_PROVIDERS', p, EXECUTION_PROVIDERS),
  );
  if (providers.length === 0) throw new ConfigError('KASKADE_ONNX_EXECUTION_PROVIDERS names no provider');
  return {
    engine: oneOf('KASKADE_SERVING_ENGINE', envString(env, 'KASKADE_SERVING_ENGINE', 'auto'), ENGINE_SETTINGS),
    onnx: {
      intraOpThreads: envInt(env, 'KASKADE_ONNX_THREADS', 1, { min: 1, max: 256 }),
      interOpThreads: envInt(env, 'KASKADE_ONNX_INTER_OP_THREADS', 1, { min: 1, max: 256 }),
      graphOptimization: oneOf(
        'KASKADE_ONNX_GRAPH_OPTIMIZATION',
        envString(env, 'KASKADE_ONNX_GRAPH_OPTIMIZATION', 'all'),
        GRAPH_OPTIMIZATION_LEVELS,
      ),
      executionProviders: providers,
      ownThread: onOff('KASKADE_ONNX_OWN_THREAD', envString(env, 'KASKADE_ONNX_OWN_THREAD', 'on')),
    },
  };
}
