// The one definition of Knative Eventing's Trigger `filter`/`filters` and `delivery` specs, used
// by the broker (this folder), by the local runtime's reading of manifests and by manifest
// validation (knative/). The broker itself is configured with these specs as plain objects,
// every destination already resolved to an http(s) URL by the caller. Checked once at load; a
// bad setting is a ConfigError naming the object and the field.
import { z } from 'zod';
import { ConfigError } from '../../functions/_shared/errors.js';
import { parseDuration } from './duration.js';

const httpUrl = z
  .string()
  .regex(/^https?:\/\/\S+$/, 'must be an http(s) URL (resolve refs before starting the broker)');
const isoDuration = z.string().refine((text) => {
  try {
    parseDuration(text);
    return true;
  } catch {
    return false;
  }
}, 'must be an ISO-8601 duration such as PT0.5S, PT1M or P1D');

/**
 * Knative's DeliverySpec without its `deadLetterSink`, whose form differs: a manifest names a
 * Destination (`ref` or `uri`), the broker gets the resolved URL.
 */
export const deliveryFields = {
  retry: z.number().int().min(0).max(1000).optional(),
  backoffPolicy: z.enum(['linear', 'exponential']).optional(),
  backoffDelay: isoDuration.optional(),
  /** Caps each computed backoff (Knative `backoffMax`). */
  backoffMax: isoDuration.optional(),
  /** Caps a subscriber's `Retry-After` (Knative `retryAfterMax`); 30 s when absent. */
  retryAfterMax: isoDuration.optional(),
  timeout: isoDuration.optional(),
};

/** `deadLetterSink` as the broker takes it: only `uri` is used, so a `ref` must be resolved into it. */
const destination = z.object({ uri: httpUrl, ref: z.unknown().optional() });

export const deliverySchema = z.object({ ...deliveryFields, deadLetterSink: destination.optional() });
export type DeliverySpec = z.infer<typeof deliverySchema>;

export interface FilterDialect {
  readonly exact?: Readonly<Record<string, string>> | undefined;
  readonly prefix?: Readonly<Record<string, string>> | undefined;
  readonly suffix?: Readonly<Record<string, string>> | undefined;
  readonly all?: readonly FilterDialect[] | undefined;
  readonly any?: readonly FilterDialect[] | undefined;
  readonly not?: FilterDialect | undefined;
  readonly cesql?: string | undefined;
}

const attributeMap = z.record(
  z.string().regex(/^[a-z0-9]+$/, 'attribute names are lowercase letters and digits'),
  z.string(),
);
/** One entry of a Trigger's `filters` (Knative's new filters: one dialect per entry). */
export const filterSchema: z.ZodType<FilterDialect> = z.lazy(() =>
  z.strictObject({
    exact: attributeMap.optional(),
    prefix: attributeMap.optional(),
    suffix: attributeMap.optional(),
    all: z.array(filterSchema).optional(),
    any: z.array(filterSchema).optional(),
    not: filterSchema.optional(),
    cesql: z.string().optional(),
  }),
);
/** A Trigger's legacy `filter`: exact matches on attributes; ignored when `filters` is present, as in Knative. */
export const attributesFilterSchema = z.strictObject({ attributes: z.record(z.string(), z.string()).optional() });

export const brokerSchema = z.object({
  name: z.string().min(1),
  delivery: deliverySchema.optional(),
});
export type BrokerSpec = z.input<typeof brokerSchema>;

export const triggerSchema = z.object({
  name: z.string().min(1),
  broker: z.string().min(1),
  filter: attributesFilterSchema.optional(),
  filters: z.array(filterSchema).optional(),
  subscriberUri: httpUrl,
  delivery: deliverySchema.optional(),
});
export type TriggerSpec = z.input<typeof triggerSchema>;

/** Parses one spec with `schema`, or throws ConfigError naming `what` and the field. */
export function checkSpec<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const path = issue?.path.map(String).join('.') ?? '';
  throw new ConfigError(`${what}${path ? `: ${path}` : ''}: ${issue?.message ?? 'invalid'}`);
}
