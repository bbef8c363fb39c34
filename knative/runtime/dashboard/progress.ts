// Training progress in the terminal. In a TTY, a progress bar (cli-progress) shows the round
// under way: shards trained out of N, the time since the round began and an estimate of the
// time left (the last round's length while this round is within it, else this round's pace); the
// one-line-per-round summary still prints above it. Off a TTY (CI, pipes) only those lines
// print. The numbers come from the runtime's dashboard (`/_kaskade/api/jobs/<id>`), which sees
// every shard.ready and shard.trained the broker carries.
import cliProgress from 'cli-progress';
import { Writable } from 'node:stream';
import { runTrainingJob, type RunJobOptions } from '../../../events/training-client.js';
import { fetchWithTimeout } from '../../../functions/_shared/http.js';
import type { JobSummary } from '../../../functions/_shared/jobs/record.js';
import type { TrainingJobView } from './model.js';

/** What a terminal needs: a stream, and whether it is a TTY (an injected stream may say so). */
export type ProgressStream = NodeJS.WritableStream & { isTTY?: boolean; columns?: number };

export interface RoundProgress {
  round: number;
  rounds: number;
  done: number;
  total: number;
  /** Seconds since the round's shards were sent, and the estimate of the seconds left (null: unknown yet). */
  elapsedS: number;
  etaS: number | null;
}

export interface ProgressReporter {
  /** A whole line (ending in a newline), printed above the bar. */
  log(text: string): void;
  update(p: RoundProgress): void;
  stop(): void;
}

export function createProgress(out: ProgressStream, tty = out.isTTY === true): ProgressReporter {
  if (!tty)
    return {
      log: (text) => void out.write(text),
      update: () => undefined,
      stop: () => undefined,
    };
  const bars = new cliProgress.MultiBar(
    {
      stream: out,
      format: '  round {round}/{rounds} [{bar}] {value}/{total} shards | {elapsed} s elapsed | ETA {left}',
      barsize: 20,
      hideCursor: true,
      clearOnComplete: true,
      // Redraw on every update: the bar moves a few times a round, not thousands.
      fps: 10,
      etaBuffer: 1,
    },
    cliProgress.Presets.shades_classic,
  );
  let bar: cliProgress.SingleBar | undefined;
  return {
    // Before the first bar there is nothing to draw around: the line goes out at once.
    log: (text) => (bar ? bars.log(text) : void out.write(text)),
    update(p) {
      const payload = {
        round: p.round,
        rounds: p.rounds,
        elapsed: p.elapsedS.toFixed(1),
        left: p.etaS === null ? '?' : `${p.etaS.toFixed(1)} s`,
      };
      bar ??= bars.create(p.total, 0, payload);
      bar.setTotal(p.total);
      bar.update(p.done, payload);
    },
    stop() {
      // Lines logged since the last redraw are written by the next one: draw it before stopping.
      bars.update();
      bars.stop();
    },
  };
}

/** Where the round stands, from the dashboard's view of the job; null before its first shard. */
export function roundProgress(job: TrainingJobView, nowMs: number): RoundProgress | null {
  const runs = job.shardRuns.filter((r) => r.round === job.currentRound);
  if (job.currentRound === 0 || runs.length === 0) return null;
  const began = Math.min(...runs.map((r) => r.readyAt));
  const elapsedS = (nowMs - began) / 1000;
  const total = job.shards || runs.length;
  const done = runs.filter((r) => r.trainedAt !== null).length;
  const previous = job.results.find((r) => r.round === job.currentRound - 1);
  const previousBegan = job.shardRuns.filter((r) => r.round === job.currentRound - 1).map((r) => r.readyAt);
  // The last round's length, while this round is within it; else this round's pace so far;
  // else unknown.
  const fromLast =
    previous && previousBegan.length > 0 ? (previous.at - Math.min(...previousBegan)) / 1000 - elapsedS : null;
  let etaS: number | null = null;
  if (done >= total) etaS = 0;
  else if (fromLast !== null && fromLast > 0) etaS = fromLast;
  else if (done > 0) etaS = (elapsedS / done) * (total - done);
  return { round: job.currentRound, rounds: job.rounds, done, total, elapsedS, etaS };
}

export interface ProgressJobOptions extends Omit<RunJobOptions, 'out'> {
  out: ProgressStream;
  /** The runtime's dashboard, `http://<host>:<port>/_kaskade` (a trailing slash is fine). */
  dashboardUrl: string;
  /** Overrides `out.isTTY`. */
  tty?: boolean;
  pollMs?: number;
}

/** runTrainingJob, with a progress bar inside each round when `out` is a TTY. */
export async function trainWithProgress(o: ProgressJobOptions): Promise<{ job: JobSummary; seconds: number }> {
  const tty = o.tty ?? o.out.isTTY === true;
  const progress = createProgress(o.out, tty);
  const lines = new Writable({
    write: (chunk: Buffer, _enc, done) => {
      progress.log(chunk.toString());
      done();
    },
  });
  const stop = new AbortController();
  const polling = tty ? poll(o, progress, stop.signal) : Promise.resolve();
  try {
    return await runTrainingJob({ ...o, out: lines });
  } finally {
    stop.abort();
    await polling;
    progress.stop();
  }
}

async function poll(o: ProgressJobOptions, progress: ProgressReporter, signal: AbortSignal): Promise<void> {
  const url = `${o.dashboardUrl.replace(/\/$/, '')}/api/jobs/${encodeURIComponent(o.request.jobId)}`;
  while (!signal.aborted) {
    try {
      const res = await fetchWithTimeout(url, { signal }, 10_000);
      if (res.status === 200) {
        const p = roundProgress((await res.json()) as TrainingJobView, Date.now());
        if (p) progress.update(p);
      } else await res.body?.cancel();
    } catch {
      // The bar is a nicety: a missed poll only delays it.
    }
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, o.pollMs ?? 500);
      signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
    });
  }
}
