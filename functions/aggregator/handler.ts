// The aggregator's HTTP surface:
//   POST /               a `dev.kaskade.shard.trained` CloudEvent (binary or structured mode)
//   POST /dead-letter    the broker's dead-letter sink: any Kaskade event that could not be delivered
//   GET  /jobs/<id>      the job's status and per-round test accuracy
//   POST /jobs/<id>/check  re-check the job's current round (round deadlines; for a scheduler)
//   GET  /healthz        readiness probe
import type { Request, Response } from '@google-cloud/functions-framework';
import { EVENT_TYPES } from '../../events/catalog.js';
import { parseEvent, receiveEvent } from '../../events/receive.js';
import { BadInputError, MethodNotAllowedError } from '../_shared/errors.js';
import { answeredProbe, withErrors, type Handler } from '../_shared/http.js';
import { JOB_ID } from '../_shared/jobs/ids.js';
import type { Logger } from '../_shared/log.js';
import { aggregatorMetrics, markEventOutcome } from '../_shared/observability/workload-metrics.js';
import type { AggregatorDeps, AggregatorSettings } from './aggregate.js';
import { handleShardTrained, type ArrivalOutcome } from './collect.js';
import { handleDeadLetter } from './dead-letter.js';
import { jobStatus, recheckJob } from './jobs.js';

const JOB_PATH = /^\/jobs\/([^/]+)(\/check)?\/?$/;

function jobIdFrom(raw: string): string {
  const id = decodeURIComponent(raw);
  if (!JOB_ID.test(id)) throw new BadInputError(`"${id}" is not a job id`);
  return id;
}

export function createAggregatorHandler(
  openDeps: () => Promise<AggregatorDeps>,
  settings: AggregatorSettings,
  logger: Logger,
): Handler {
  // Shared by this process's requests, so concurrent copies of one event aggregate a round once.
  const busy = new Set<string>();
  const deps = async (): Promise<AggregatorDeps> => ({ ...(await openDeps()), busy });
  return withErrors(async (req: Request, res: Response) => {
    const path = req.path;
    if (answeredProbe(req, res)) return;
    const jobRoute = JOB_PATH.exec(path);
    if (jobRoute?.[1] !== undefined) {
      const jobId = jobIdFrom(jobRoute[1]);
      if (jobRoute[2] === undefined && req.method === 'GET') {
        res.status(200).json(await jobStatus((await deps()).store, settings.roots, jobId));
      } else if (jobRoute[2] !== undefined && req.method === 'POST') {
        res.status(200).json(await recheckJob(await deps(), settings, jobId));
      } else {
        throw new MethodNotAllowedError(
          [jobRoute[2] === undefined ? 'GET' : 'POST'],
          `${req.method} ${path} is not allowed`,
        );
      }
      return;
    }
    if (req.method !== 'POST')
      throw new MethodNotAllowedError(['POST'], `${req.method} ${path} is not allowed; POST a CloudEvent`);
    if (path === '/dead-letter') {
      res.status(200).json(await handleDeadLetter(await deps(), settings, parseEvent(req)));
      return;
    }
    const { data, event } = receiveEvent(req, [EVENT_TYPES.shardTrained]);
    const outcome = await handleShardTrained(await deps(), settings, data, { source: event.source, id: event.id });
    logger.info(
      `job ${data.jobId} round ${data.round} shard ${data.shardIndex}: ${outcome.recorded ? 'recorded' : 'already recorded'}, round ${outcome.round.outcome}`,
    );
    const arrival = arrivalOutcome(outcome);
    aggregatorMetrics().arrivals.inc({ outcome: arrival });
    if (arrival === 'duplicate') markEventOutcome(res, 'duplicate');
    res.status(200).json(outcome);
  }, logger);
}

/** How a shard result counted: a repeat, too late for its round, for a job that is over, or counted. */
function arrivalOutcome({ recorded, round }: ArrivalOutcome): 'duplicate' | 'late' | 'ignored' | 'counted' {
  if (!recorded) return 'duplicate';
  if (round.outcome === 'ignored') return 'ignored';
  if (round.outcome === 'closed' && !round.counted) return 'late';
  return 'counted';
}
