// Keeping the served models current without events: at start, load every published model (when
// configured to load at start), then every poll interval re-read the pointers of loaded models
// (and, loading at start, load models published since). While a model to load is missing or
// failed, retry sooner. Idle models are unloaded on a timer of their own.
import type { Logger } from '../_shared/log.js';
import type { ModelRepository, ReloadOutcome } from './model-repository.js';

export interface WatchOptions {
  loadAt: 'start' | 'first-use';
  /** 0 = no polling (events only). */
  pollMs: number;
  retryMs: number;
  idleUnloadMs: number;
  logger: Logger;
}

export interface Watch {
  /** Settles after the first attempt (models loaded or not): start-up is over. */
  readonly firstAttempt: Promise<void>;
  stop(): void;
}

export function watchModels(repository: ModelRepository, options: WatchOptions): Watch {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let lastProblem = '';

  const attempt = async (first: boolean): Promise<void> => {
    let complete = true;
    try {
      if (!first) logOutcomes(await repository.reloadLoaded(), options.logger);
      if (options.loadAt === 'start') {
        const { loaded, failed } = await repository.loadPublished();
        logOutcomes(loaded, options.logger);
        complete = failed.length === 0 && repository.loaded().length > 0;
        if (repository.loaded().length === 0 && failed.length === 0) warnOnce('no model is published yet');
      }
      lastProblem = '';
    } catch (e) {
      complete = false;
      warnOnce(`model refresh failed: ${(e as Error).message}`);
    }
    if (stopped) return;
    const delay = complete ? options.pollMs : options.retryMs;
    if (delay > 0) {
      timer = setTimeout(() => void attempt(false), delay);
      timer.unref();
    }
  };

  // The same problem every few seconds is logged once, not on every retry.
  const warnOnce = (problem: string): void => {
    if (problem !== lastProblem) options.logger.warn(problem);
    lastProblem = problem;
  };

  const sweepEvery = options.idleUnloadMs > 0 ? Math.min(Math.max(options.idleUnloadMs / 4, 10), 60_000) : 0;
  const sweeper = sweepEvery > 0 ? setInterval(() => repository.unloadIdle(), sweepEvery) : undefined;
  sweeper?.unref();

  return {
    firstAttempt: attempt(true),
    stop: () => {
      stopped = true;
      clearTimeout(timer);
      clearInterval(sweeper);
    },
  };
}

export function logOutcomes(outcomes: readonly ReloadOutcome[], logger: Logger): void {
  for (const { name, outcome } of outcomes) {
    if (outcome.status !== 'loaded') continue;
    const m = outcome.model.metadata;
    const accuracy = m.testAccuracy === null ? 'not evaluated' : m.testAccuracy.toFixed(4);
    logger.info(
      `serving "${name}": ${m.model} version ${outcome.model.version} (job ${m.jobId}, round ${m.round}/${m.rounds}, test accuracy ${accuracy}) from ${outcome.identity}, loaded in ${Math.round(outcome.ms)} ms`,
    );
  }
}
