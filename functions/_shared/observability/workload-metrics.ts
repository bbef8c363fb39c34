// What Kaskade's functions record besides requests: events handled by type and outcome, and the
// trainer's, aggregator's and predictor's own measures. Labels stay bounded: event types and
// model names pass through `boundedLabel`, never job ids or versions of every round.
import { countOf, counter, gauge, histogram, metricsRegistry, SECONDS_BUCKETS, type Registry } from './metrics.js';

export type EventOutcome = 'ok' | 'duplicate' | 'rejected' | 'failed';

const LABEL_VALUE = /^[a-zA-Z0-9._:/-]{1,100}$/;

/** A label value from outside input: itself when it looks like a name, else `other`. */
export function boundedLabel(value: string | undefined): string {
  return value !== undefined && LABEL_VALUE.test(value) ? value : 'other';
}

const OUTCOME_KEY = 'kaskadeEventOutcome';

/**
 * Records, on the response (Express's per-request `res.locals`), how the event it answers was
 * handled when the status alone cannot say: a duplicate is answered 2xx like a first delivery.
 */
export function markEventOutcome(res: { locals: Record<string, unknown> }, outcome: EventOutcome): void {
  res.locals[OUTCOME_KEY] = outcome;
}

/** What `markEventOutcome` recorded on this response, if anything. */
export function markedOutcome(res: object): EventOutcome | undefined {
  if (!('locals' in res) || typeof res.locals !== 'object' || res.locals === null) return undefined;
  const value: unknown = (res.locals as Record<string, unknown>)[OUTCOME_KEY];
  return value === 'ok' || value === 'duplicate' || value === 'rejected' || value === 'failed' ? value : undefined;
}

/** The outcome an HTTP status means for an event delivery (a handler may say `duplicate`). */
export function outcomeOfStatus(status: number): EventOutcome {
  if (status < 400) return 'ok';
  return status < 500 ? 'rejected' : 'failed';
}

export function eventMetrics(registry: Registry = metricsRegistry()) {
  const labelNames = ['event_type', 'outcome'] as const;
  const duration = histogram(
    {
      name: 'kaskade_event_handling_duration_seconds',
      help: 'Time to handle one CloudEvent, by type and outcome.',
      labelNames,
      buckets: SECONDS_BUCKETS,
    },
    registry,
  );
  countOf(
    {
      name: 'kaskade_events_handled_total',
      help: 'CloudEvents received, by type and outcome (ok, duplicate, rejected, failed).',
      labelNames,
      histogram: duration,
    },
    registry,
  );
  return { duration };
}

const ROUND_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800];

export function trainerMetrics(registry: Registry = metricsRegistry()) {
  const labelNames = ['model'] as const;
  return {
    samplesPerSecond: gauge(
      {
        name: 'kaskade_trainer_samples_per_second',
        help: 'Training throughput of the last shard trained, by model.',
        labelNames,
      },
      registry,
    ),
    epochSeconds: histogram(
      {
        name: 'kaskade_trainer_epoch_duration_seconds',
        help: 'Duration of one local epoch, by model.',
        labelNames,
        buckets: ROUND_BUCKETS,
      },
      registry,
    ),
    roundSeconds: histogram(
      {
        name: 'kaskade_trainer_round_duration_seconds',
        help: "Duration of one shard's round: read, train, evaluate, write.",
        labelNames,
        buckets: ROUND_BUCKETS,
      },
      registry,
    ),
    localLoss: gauge(
      { name: 'kaskade_trainer_local_loss', help: 'Mean training loss of the last local epoch, by model.', labelNames },
      registry,
    ),
    shards: counter(
      {
        name: 'kaskade_trainer_shards_total',
        help: 'Shard events answered, by outcome (trained, replayed, skipped).',
        labelNames: ['outcome'],
      },
      registry,
    ),
  };
}

export function aggregatorMetrics(registry: Registry = metricsRegistry()) {
  return {
    roundsClosed: counter(
      {
        name: 'kaskade_aggregator_rounds_closed_total',
        help: 'Rounds averaged and evaluated, by model.',
        labelNames: ['model'],
      },
      registry,
    ),
    arrivals: counter(
      {
        name: 'kaskade_aggregator_shard_arrivals_total',
        help: 'Shard results received, by outcome (counted, late, duplicate, ignored).',
        labelNames: ['outcome'],
      },
      registry,
    ),
    accuracy: gauge(
      {
        name: 'kaskade_aggregator_test_accuracy',
        help: 'Held-out test accuracy of the last closed round, by model.',
        labelNames: ['model'],
      },
      registry,
    ),
    loss: gauge(
      {
        name: 'kaskade_aggregator_test_loss',
        help: 'Held-out test loss of the last closed round, by model.',
        labelNames: ['model'],
      },
      registry,
    ),
  };
}

const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

export function predictorMetrics(registry: Registry = metricsRegistry()) {
  return {
    modelInfo: gauge(
      {
        name: 'kaskade_predictor_model_info',
        help: 'The model version served (1 for the version loaded now), by model, version and engine.',
        labelNames: ['model', 'version', 'engine'],
      },
      registry,
    ),
    batchSize: histogram(
      {
        name: 'kaskade_predictor_batch_size',
        help: 'Instances per model run after batching, by model.',
        labelNames: ['model'],
        buckets: BATCH_BUCKETS,
      },
      registry,
    ),
    loadSeconds: histogram(
      {
        name: 'kaskade_predictor_model_load_seconds',
        help: 'Time to load a published model, by model and engine.',
        labelNames: ['model', 'engine'],
        buckets: SECONDS_BUCKETS,
      },
      registry,
    ),
  };
}
