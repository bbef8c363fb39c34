// `dev.kaskade.model.aggregated` on the predictor: a final round means a job published a new
// model, so the registry re-reads the LATEST pointer (the pointer, not the event's URL, is the
// truth: an event cannot point the server at an arbitrary folder). The same source+id twice
// changes nothing; a delivery whose reload failed is forgotten, so the broker's retry reloads.
import { EVENT_TYPES } from '../../events/catalog.js';
import { memoryIdempotency, type Idempotency } from '../../events/idempotency.js';
import { receiveEvent, type HttpMessage } from '../../events/receive.js';
import type { HttpHeaders } from '../../events/wire.js';
import { UnavailableError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import type { ModelRegistry } from './model-registry.js';
import type { ServedModel } from './model-loader.js';
import { logOutcome } from './model-watch.js';

export interface EventOutcome {
  status: 'reloaded' | 'unchanged' | 'ignored' | 'duplicate';
  /** Version served after handling (absent while none is loaded). */
  version?: string;
}

export class ModelEventHandler {
  readonly #idempotency: Idempotency<EventOutcome['status']> = memoryIdempotency(1024);

  constructor(
    private readonly registry: ModelRegistry<ServedModel>,
    private readonly logger: Logger,
  ) {}

  /** Handles one delivery; BadInputError (400, not retried) for anything malformed. */
  async handle(message: HttpMessage): Promise<EventOutcome> {
    const { data, event } = receiveEvent(message, [EVENT_TYPES.modelAggregated]);
    const once = await this.#idempotency.once({ source: event.source, id: event.id }, async () => {
      if (!data.final) return 'ignored';
      this.logger.info(`job ${data.jobId} finished (round ${data.round}/${data.rounds}, test accuracy ${data.testAccuracy}): re-reading the published model`);
      let outcome;
      try {
        outcome = await this.registry.refresh();
      } catch (cause) {
        // Whatever broke (storage, a bad artifact), the broker should redeliver later: 503.
        this.logger.error(`reload after job ${data.jobId} failed: ${(cause as Error).message}`);
        throw new UnavailableError(`reloading the published model failed: ${(cause as Error).message}`, { cause });
      }
      logOutcome(outcome, this.logger);
      return outcome.status === 'loaded' ? 'reloaded' : 'unchanged';
    });
    const version = this.registry.current?.version;
    const status = once.duplicate ? 'duplicate' : once.value;
    return version === undefined ? { status } : { status, version };
  }
}

/** True when a request carries a CloudEvent (binary `ce-*` headers or structured JSON). */
export function looksLikeCloudEvent(headers: HttpHeaders): boolean {
  const type = headers['content-type'];
  return headers['ce-specversion'] !== undefined || (typeof type === 'string' && type.startsWith('application/cloudevents'));
}
