// Keeping the served model current without events: load at start (retrying while nothing is
// published or storage is unreachable), then re-read the pointer every poll interval.
import { NotFoundError } from '../_shared/errors.js';
import type { Logger } from '../_shared/log.js';
import type { ModelRegistry, RefreshOutcome } from './model-registry.js';
import type { ServedModel } from './model-loader.js';

export interface WatchOptions {
  /** 0 = no polling after the first successful load. */
  pollMs: number;
  retryMs: number;
  logger: Logger;
}

export interface Watch {
  /** Settles after the first attempt (loaded or not). */
  readonly firstAttempt: Promise<void>;
  stop(): void;
}

export function watchPublished(registry: ModelRegistry<ServedModel>, options: WatchOptions): Watch {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastProblem = '';

  const attempt = async (): Promise<void> => {
    try {
      logOutcome(await registry.refresh(), options.logger);
      lastProblem = '';
    } catch (e) {
      const problem = e instanceof NotFoundError ? `no model published yet (${e.message})` : `model refresh failed: ${(e as Error).message}`;
      // The same problem every few seconds is logged once, not on every retry.
      if (problem !== lastProblem && e instanceof NotFoundError) options.logger.warn(problem);
      else if (problem !== lastProblem) options.logger.error(problem);
      lastProblem = problem;
    }
    if (stopped) return;
    const delay = registry.ready ? options.pollMs : options.retryMs;
    if (delay > 0) {
      timer = setTimeout(() => void attempt(), delay);
      timer.unref();
    }
  };

  return {
    firstAttempt: attempt(),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
    },
  };
}

export function logOutcome(outcome: RefreshOutcome<ServedModel>, logger: Logger): void {
  if (outcome.status !== 'loaded') return;
  const m = outcome.model.metadata;
  const accuracy = m.testAccuracy === null ? 'not evaluated' : m.testAccuracy.toFixed(4);
  logger.info(
    `serving ${m.model} version ${outcome.model.version} (job ${m.jobId}, round ${m.round}/${m.rounds}, test accuracy ${accuracy}) from ${outcome.identity}, loaded in ${Math.round(outcome.ms)} ms`,
  );
}
