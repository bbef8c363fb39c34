// The shard trainer's HTTP surface: `GET /healthz` for the readiness probe; a POST is a
// `dev.kaskade.shard.ready` CloudEvent (binary or structured mode). It answers once the
// shard's weights are written and `shard.trained` is emitted: 200 with the result, or 200
// `skipped` when the job is already over. Malformed → 400 (not retried).
import type { Request, Response } from '@google-cloud/functions-framework';
import { EVENT_TYPES } from '../../events/catalog.js';
import { receiveEvent } from '../../events/receive.js';
import { answeredBeforeEvent, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { markEventOutcome, trainerMetrics } from '../_shared/observability/workload-metrics.js';
import { handleShardReady, type TrainerDeps, type TrainerSettings } from './train-shard.js';

export function createTrainerHandler(
  deps: () => Promise<TrainerDeps>,
  settings: TrainerSettings,
  logger: Logger,
): Handler {
  return withErrors(async (req: Request, res: Response) => {
    if (answeredBeforeEvent(req, res)) return;
    const { data, event } = receiveEvent(req, [EVENT_TYPES.shardReady]);
    const outcome = await handleShardReady(await deps(), settings, data);
    if (outcome.outcome !== 'trained') logger.info(`${event.id}: ${outcome.outcome}`);
    trainerMetrics().shards.inc({ outcome: outcome.outcome });
    if (outcome.outcome === 'replayed') markEventOutcome(res, 'duplicate');
    res.status(200).json(outcome);
  }, logger);
}
