// What the broker is configured with: the `spec` of Knative Broker and Trigger manifests as
// plain objects, with every destination already resolved to an http(s) URL by the caller.
// Checked once at load; a bad setting is a ConfigError naming the object and the field.
import { z } from 'zod';
import { ConfigError } from '../../functions/_shared/errors.js';

const httpUrl = z.string().regex(/^https?:\/\/\S+$/, 'must be an http(s) URL (resolve refs before starting the broker)');
const duration = z.string().min(1);

/** `deadLetterSink` as in Knative; only `uri` is used here, so a `ref` must be resolved into it. */
const destination = z.object({ uri: httpUrl, ref: z.unknown().optional() });

export const deliverySchema = z.object({
  retry: z.number().int().min(0).max(1000).optional(),
  backoffPolicy: z.enum(['linear', 'exponential']).optional(),
  backoffDelay: duration.optional(),
  /** Caps each computed backoff (Knative `backoffMax`). */
  backoffMax: duration.optional(),
  /** Caps a subscriber's `Retry-After` (Knative `retryAfterMax`); 30 s when absent. */
  retryAfterMax: duration.optional(),
  timeout: duration.optional(),
  deadLetterSink: destination.optional(),
});
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

const attributeMap = z.record(z.string().regex(/^[a-z0-9]+$/, 'attribute names are lowercase letters and digits'), z.string());
const dialect: z.ZodType<FilterDialect> = z.lazy(() =>
  z.strictObject({
    exact: attributeMap.optional(),
    prefix: attributeMap.optional(),
    suffix: attributeMap.optional(),
    all: z.array(dialect).optional(),
    any: z.array(dialect).optional(),
    not: dialect.optional(),
    cesql: z.string().optional(),
  }),
);

export const brokerSchema = z.object({
  name: z.string().min(1),
  delivery: deliverySchema.optional(),
});
export type BrokerSpec = z.input<typeof brokerSchema>;

export const triggerSchema = z.object({
  name: z.string().min(1),
  broker: z.string().min(1),
  /** Legacy exact-match filter; ignored when `filters` is present, as in Knative. */
  filter: z.object({ attributes: z.record(z.string(), z.string()).optional() }).optional(),
  filters: z.array(dialect).optional(),
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
