// The splitter's HTTP surface: `GET /healthz` for the readiness probe, and any POST is a
// CloudEvent (binary or structured mode) of type `dev.kaskade.training.requested` or a
// PingSource tick (`dev.knative.sources.ping`) carrying the same request. A malformed event is
// a 400 (never retried) and writes nothing; an accepted one answers 202 with the job id.
// `POST /scheduled` takes the plain JSON request from Cloud Scheduler, which cannot mint event
// ids: the run's `X-CloudScheduler-ScheduleTime` is the id, so a retried run is one job.
import type { Request, Response } from '@google-cloud/functions-framework';
import { EVENT_TYPES, validateEventData } from '../../events/catalog.js';
import { receiveEvent } from '../../events/receive.js';
import { BadInputError } from '../_shared/errors.js';
import { answeredBeforeEvent, withErrors, type Handler } from '../_shared/http.js';
import type { Logger } from '../_shared/log.js';
import { startJob, type SplitterDeps, type SplitterSettings } from './split.js';

export function createSplitterHandler(
  deps: () => Promise<SplitterDeps>,
  settings: SplitterSettings,
  logger: Logger,
): Handler {
  return withErrors(async (req: Request, res: Response) => {
    if (answeredBeforeEvent(req, res)) return;
    if (req.path === '/scheduled') {
      const run = scheduledRun(req);
      const result = await startJob(
        await deps(),
        settings,
        validateEventData(EVENT_TYPES.trainingRequested, req.body),
        run,
      );
      logger.info(
        `Cloud Scheduler ${run.source} ${run.id} → job ${result.jobId} (${result.outcome}, ${result.status})`,
      );
      res.status(202).json(result);
      return;
    }
    const received = receiveEvent(req, [EVENT_TYPES.trainingRequested, EVENT_TYPES.ping]);
    const result = await startJob(await deps(), settings, received.data, {
      source: received.event.source,
      id: received.event.id,
    });
    logger.info(
      `${received.event.type} ${received.event.source} ${received.event.id} → job ${result.jobId} (${result.outcome}, ${result.status})`,
    );
    res.status(202).json(result);
  }, logger);
}

/** The identity of one Cloud Scheduler run, from the headers Cloud Scheduler sets. */
export function scheduledRun(req: Pick<Request, 'get'>): { source: string; id: string } {
  const time = req.get('x-cloudscheduler-scheduletime');
  if (!time)
    throw new BadInputError('POST /scheduled needs the X-CloudScheduler-ScheduleTime header (it identifies the run)');
  const job = req.get('x-cloudscheduler-jobname') ?? 'unnamed';
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(job))
    throw new BadInputError(`X-CloudScheduler-JobName "${job}" is not a job name`);
  return { source: `/kaskade/cloud-scheduler/${job}`, id: `scheduled-${time}` };
}
