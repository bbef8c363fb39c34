// Reads a revision's `autoscaling.knative.dev/*` annotations (and containerConcurrency) into a
// KpaConfig, with Knative's defaults and the value ranges its admission webhook enforces.
import { KPA_DEFAULTS, type KpaConfig } from './kpa.js';

export const AUTOSCALING_PREFIX = 'autoscaling.knative.dev/';
const KPA_CLASS = 'kpa.autoscaling.knative.dev';

export interface AnnotationProblem {
  /** The annotation key. */
  field: string;
  message: string;
}

export interface ParsedAutoscaling {
  config: KpaConfig;
  problems: AnnotationProblem[];
  warnings: string[];
}

const KNOWN = new Set([
  'class',
  'metric',
  'target',
  'target-utilization-percentage',
  'window',
  'panic-window-percentage',
  'panic-threshold-percentage',
  'min-scale',
  'max-scale',
  'initial-scale',
  'scale-down-delay',
  'activation-scale',
  'scale-to-zero-pod-retention-period',
  'max-scale-up-rate',
  'max-scale-down-rate',
]);

/** Go's time.ParseDuration subset Knative accepts in annotations: `60s`, `1m30s`, `500ms`. */
export function parseGoDuration(text: string): number | null {
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };
  if (text === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    total += Number(m[1]) * (units[m[2] ?? ''] ?? NaN);
    consumed = re.lastIndex;
  }
  return consumed === text.length && text.length > 0 && Number.isFinite(total) ? total : null;
}

export interface AutoscalingOptions {
  /** Knative's `allow-zero-initial-scale` (config-autoscaler); off by default, as in Knative. */
  allowZeroInitialScale: boolean;
}

export function parseAutoscaling(
  annotations: Readonly<Record<string, string>>,
  containerConcurrency: number,
  options: AutoscalingOptions,
): ParsedAutoscaling {
  const problems: AnnotationProblem[] = [];
  const warnings: string[] = [];
  const get = (key: string): string | undefined => annotations[AUTOSCALING_PREFIX + key];
  for (const key of Object.keys(annotations)) {
    if (key.startsWith(AUTOSCALING_PREFIX) && !KNOWN.has(key.slice(AUTOSCALING_PREFIX.length)))
      problems.push({ field: key, message: 'unknown autoscaling annotation' });
  }
  const num = (key: string, min: number, max: number, integer: boolean): number | undefined => {
    const raw = get(key);
    if (raw === undefined) return undefined;
    const value = Number(raw);
    if (
      raw.trim() === '' ||
      !Number.isFinite(value) ||
      (integer && !Number.isInteger(value)) ||
      value < min ||
      value > max
    ) {
      problems.push({
        field: AUTOSCALING_PREFIX + key,
        message: `must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got "${raw}"`,
      });
      return undefined;
    }
    return value;
  };
  const duration = (key: string, min: number, max: number): number | undefined => {
    const raw = get(key);
    if (raw === undefined) return undefined;
    const ms = parseGoDuration(raw);
    if (ms === null || ms < min || ms > max) {
      problems.push({
        field: AUTOSCALING_PREFIX + key,
        message: `must be a duration like 60s in [${min / 1000}s, ${max / 1000}s], got "${raw}"`,
      });
      return undefined;
    }
    return ms;
  };

  const cls = get('class');
  if (cls !== undefined && cls !== KPA_CLASS) {
    if (cls === 'hpa.autoscaling.knative.dev')
      warnings.push(`${AUTOSCALING_PREFIX}class ${cls} is not available locally; the KPA scales this service`);
    else
      problems.push({
        field: `${AUTOSCALING_PREFIX}class`,
        message: `must be ${KPA_CLASS} or hpa.autoscaling.knative.dev, got "${cls}"`,
      });
  }
  let metric: KpaConfig['metric'] = 'concurrency';
  const rawMetric = get('metric');
  if (rawMetric === 'rps') metric = 'rps';
  else if (rawMetric === 'cpu' || rawMetric === 'memory')
    warnings.push(`${AUTOSCALING_PREFIX}metric ${rawMetric} needs the HPA; scaling on concurrency locally`);
  else if (rawMetric !== undefined && rawMetric !== 'concurrency')
    problems.push({ field: `${AUTOSCALING_PREFIX}metric`, message: `must be concurrency or rps, got "${rawMetric}"` });

  const defaultTarget = metric === 'rps' ? 200 : containerConcurrency > 0 ? containerConcurrency : KPA_DEFAULTS.target;
  const target = num('target', 0.01, Number.MAX_SAFE_INTEGER, false) ?? defaultTarget;
  if (metric === 'concurrency' && containerConcurrency > 0 && target > containerConcurrency) {
    warnings.push(
      `${AUTOSCALING_PREFIX}target ${target} exceeds containerConcurrency ${containerConcurrency}; using ${containerConcurrency}`,
    );
  }
  const utilization = (num('target-utilization-percentage', 1, 100, false) ?? KPA_DEFAULTS.utilization * 100) / 100;
  const minScale = num('min-scale', 0, Number.MAX_SAFE_INTEGER, true) ?? KPA_DEFAULTS.minScale;
  const maxScale = num('max-scale', 0, Number.MAX_SAFE_INTEGER, true) ?? KPA_DEFAULTS.maxScale;
  if (maxScale > 0 && minScale > maxScale)
    problems.push({
      field: `${AUTOSCALING_PREFIX}min-scale`,
      message: `min-scale ${minScale} exceeds max-scale ${maxScale}`,
    });
  const initialScale = num('initial-scale', 0, Number.MAX_SAFE_INTEGER, true) ?? KPA_DEFAULTS.initialScale;
  if (initialScale === 0 && !options.allowZeroInitialScale) {
    problems.push({
      field: `${AUTOSCALING_PREFIX}initial-scale`,
      message: 'initial-scale 0 needs allow-zero-initial-scale (KASKADE_ALLOW_ZERO_INITIAL_SCALE=true)',
    });
  }

  const config: KpaConfig = {
    metric,
    target: metric === 'concurrency' && containerConcurrency > 0 ? Math.min(target, containerConcurrency) : target,
    utilization,
    stableWindowMs: duration('window', 6_000, 3_600_000) ?? KPA_DEFAULTS.stableWindowMs,
    panicWindowPercentage: num('panic-window-percentage', 1, 100, false) ?? KPA_DEFAULTS.panicWindowPercentage,
    panicThreshold: (num('panic-threshold-percentage', 110, 1000, false) ?? KPA_DEFAULTS.panicThreshold * 100) / 100,
    maxScaleUpRate: num('max-scale-up-rate', 1.0001, Number.MAX_SAFE_INTEGER, false) ?? KPA_DEFAULTS.maxScaleUpRate,
    maxScaleDownRate:
      num('max-scale-down-rate', 1.0001, Number.MAX_SAFE_INTEGER, false) ?? KPA_DEFAULTS.maxScaleDownRate,
    minScale,
    maxScale,
    initialScale,
    activationScale: num('activation-scale', 1, Number.MAX_SAFE_INTEGER, true) ?? KPA_DEFAULTS.activationScale,
    scaleDownDelayMs: duration('scale-down-delay', 0, 3_600_000) ?? KPA_DEFAULTS.scaleDownDelayMs,
    scaleToZeroRetentionMs:
      duration('scale-to-zero-pod-retention-period', 0, 3_600_000) ?? KPA_DEFAULTS.scaleToZeroRetentionMs,
    enableScaleToZero: KPA_DEFAULTS.enableScaleToZero,
  };
  return { config, problems, warnings };
}
