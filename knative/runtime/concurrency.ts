// Observed concurrency of one service, as the activator and queue-proxy report it to the
// autoscaler: requests in flight or queued at the ingress. Instead of sampling the in-flight
// count on a timer, every change adds (count × elapsed time) to fixed-width time buckets, so
// window averages are exact time-weighted means; request starts are counted for the rps metric.

interface Bucket {
  /** ∫ concurrency dt over the bucket, in request·milliseconds. */
  area: number;
  started: number;
}

export class ConcurrencySampler {
  private readonly buckets = new Map<number, Bucket>();
  private level = 0;
  private lastMs: number;
  private idleSince: number | null;
  private readonly createdMs: number;

  /**
   * @param bucketMs width of a bucket (resolution of window edges)
   * @param retainMs how much history to keep: the longest window asked for
   */
  constructor(
    private readonly bucketMs: number,
    private readonly retainMs: number,
    nowMs: number,
  ) {
    this.lastMs = nowMs;
    this.createdMs = nowMs;
    this.idleSince = nowMs;
  }

  begin(nowMs: number): void {
    this.advance(nowMs);
    this.bucket(nowMs).started += 1;
    this.level += 1;
    this.idleSince = null;
  }

  end(nowMs: number): void {
    this.advance(nowMs);
    this.level = Math.max(0, this.level - 1);
    if (this.level === 0) this.idleSince = nowMs;
  }

  /** Requests in flight or queued right now. */
  current(): number {
    return this.level;
  }

  /** Since when nothing has been in flight; null while something is. */
  idleSinceMs(): number | null {
    return this.idleSince;
  }

  /** Time-weighted mean concurrency over the last `windowMs` (or since creation, if shorter). */
  average(windowMs: number, nowMs: number): number {
    this.advance(nowMs);
    const span = Math.min(windowMs, nowMs - this.createdMs);
    if (span <= 0) return this.level;
    let area = 0;
    this.forWindow(windowMs, nowMs, (b, weight) => (area += b.area * weight));
    return area / span;
  }

  /** Requests started per second over the last `windowMs` (or since creation, if shorter). */
  rate(windowMs: number, nowMs: number): number {
    const span = Math.min(windowMs, nowMs - this.createdMs);
    if (span <= 0) return 0;
    let started = 0;
    this.forWindow(windowMs, nowMs, (b, weight) => (started += b.started * weight));
    return (started * 1000) / span;
  }

  /** Visits buckets overlapping [now - window, now]; the oldest one weighted by its overlap. */
  private forWindow(windowMs: number, nowMs: number, visit: (b: Bucket, weight: number) => void): void {
    const from = nowMs - windowMs;
    const first = Math.floor(from / this.bucketMs);
    const last = Math.floor(nowMs / this.bucketMs);
    for (let i = first; i <= last; i++) {
      const b = this.buckets.get(i);
      if (!b) continue;
      const weight = i === first ? ((i + 1) * this.bucketMs - from) / this.bucketMs : 1;
      visit(b, Math.min(1, Math.max(0, weight)));
    }
  }

  /** Adds the current level over [lastMs, nowMs] to the buckets it spans; drops old buckets. */
  private advance(nowMs: number): void {
    let t = this.lastMs;
    if (nowMs <= t) return;
    if (this.level > 0) {
      while (t < nowMs) {
        const end = Math.min(nowMs, (Math.floor(t / this.bucketMs) + 1) * this.bucketMs);
        this.bucket(t).area += this.level * (end - t);
        t = end;
      }
    }
    this.lastMs = nowMs;
    const oldest = Math.floor((nowMs - this.retainMs) / this.bucketMs) - 1;
    for (const i of this.buckets.keys()) if (i < oldest) this.buckets.delete(i);
  }

  private bucket(atMs: number): Bucket {
    const i = Math.floor(atMs / this.bucketMs);
    let b = this.buckets.get(i);
    if (!b) {
      b = { area: 0, started: 0 };
      this.buckets.set(i, b);
    }
    return b;
  }
}
