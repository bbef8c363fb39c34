// `dev.kaskade.model.aggregated` on the predictor: a final round means a job published a new
// model, so the predictor re-reads the LATEST pointers of the models it has loaded (the pointers,
// not the event's URL, are the truth: an event cannot point the server at an arbitrary folder),
// and, loading at start, loads models published since. Only a model whose pointer moved reloads.
// The same source+id twice changes nothing; a delivery whose reload failed is forgotten, so the
// broker's retry reloads.
import { EVENT_TYPES } from '../../events/catalog.js';
import { memoryIdempotency, type Idempotency } from '../../events/idempotency.js';
import { receiveEvent, type HttpMessage } from '../../events/receive.js';
import type { HttpHeaders } from '../../events/wire.js';
import { UnavailableError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import type { ModelRepository, ReloadOutcome } from './model-repository.js';
import { logOutcomes } from './model-watch.js';

export interface EventOutcome {
  status: 'reloaded' | 'unchanged' | 'ignored' | 'duplicate';
  /** Versions this delivery loaded (absent when it loaded none). */
  versions?: string[];
}

interface Handled {
  status: EventOutcome['status'];
  versions: string[];
}

export class ModelEventHandler {
  readonly #idempotency: Idempotency<Handled> = memoryIdempotency(1024);

  constructor(
    private readonly repository: ModelRepository,
    private readonly loadAt: 'start' | 'first-use',
    private readonly logger: Logger,
  ) {}

  /** Handles one delivery; BadInputError (400, not retried) for anything malformed. */
  async handle(message: HttpMessage): Promise<EventOutcome> {
    const { data, event } = receiveEvent(message, [EVENT_TYPES.modelAggregated]);
    const once = await this.#idempotency.once({ source: event.source, id: event.id }, async (): Promise<Handled> => {
      if (!data.final) return { status: 'ignored', versions: [] };
      this.logger.info(
        `job ${data.jobId} finished (round ${data.round}/${data.rounds}, test accuracy ${data.testAccuracy}): re-reading the published models`,
      );
      const outcomes = await this.#reload(data.jobId);
      logOutcomes(outcomes, this.logger);
      const versions = outcomes.flatMap(({ outcome }) => (outcome.status === 'loaded' ? [outcome.model.version] : []));
      return { status: versions.length > 0 ? 'reloaded' : 'unchanged', versions };
    });
    if (once.duplicate) return { status: 'duplicate' };
    const { status, versions } = once.value;
    return versions.length > 0 ? { status, versions } : { status };
  }

  async #reload(jobId: string): Promise<ReloadOutcome[]> {
    try {
      const outcomes = await this.repository.reloadLoaded();
      if (this.loadAt !== 'start') return outcomes;
      // A model that never loaded and fails now is logged by loadPublished; it must not hold up
      // the others' reloads with redeliveries.
      const { loaded } = await this.repository.loadPublished();
      return [...outcomes, ...loaded];
    } catch (cause) {
      // Whatever broke (storage, a bad artifact), the broker should redeliver later: 503.
      this.logger.error(`reload after job ${jobId} failed: ${(cause as Error).message}`);
      throw new UnavailableError(`reloading the published models failed: ${(cause as Error).message}`, { cause });
    }
  }
}

/** True when a request carries a CloudEvent (binary `ce-*` headers or structured JSON). */
export function looksLikeCloudEvent(headers: HttpHeaders): boolean {
  const type = headers['content-type'];
  return (
    headers['ce-specversion'] !== undefined || (typeof type === 'string' && type.startsWith('application/cloudevents'))
  );
}
