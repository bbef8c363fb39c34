// Fits the seed's latency model t = a·exp(−k·(pods−2)) + c to measured rows, one fit per
// bandwidth level, by non-linear least squares (Levenberg–Marquardt from ml-levenberg-marquardt).
import { levenbergMarquardt } from 'ml-levenberg-marquardt';
import { BadInputError } from '../../functions/_shared/errors.js';
import { MIN_PODS, type ExpModel } from './q-agent.js';

export interface FitPoint {
  pods: number;
  seconds: number;
}

export interface ExpFit extends ExpModel {
  /** Root-mean-square residual, in the unit of `seconds`. */
  rmse: number;
  points: number;
}

export function fitExponential(points: readonly FitPoint[]): ExpFit {
  if (points.length < 3)
    throw new BadInputError(`fitting a·exp(−k·(pods−2)) + c needs at least 3 points, got ${points.length}`);
  const x = points.map((p) => p.pods);
  const y = points.map((p) => p.seconds);
  if (new Set(x).size < 3) throw new BadInputError('fitting needs at least 3 distinct pod counts');
  const ySorted = [...y].sort((p, q) => p - q);
  const yMin = ySorted[0] as number;
  const yMax = ySorted[ySorted.length - 1] as number;
  const model =
    ([a, k, c]: number[]) =>
    (pods: number) =>
      (a as number) * Math.exp(-(k as number) * (pods - MIN_PODS)) + (c as number);
  const result = levenbergMarquardt({ x, y }, model, {
    initialValues: [yMax - yMin || 1, 0.5, yMin],
    damping: 1e-2,
    maxIterations: 500,
    errorTolerance: 1e-12,
    gradientDifference: 1e-6,
  });
  const [a, k, c] = result.parameterValues as [number, number, number];
  const f = model([a, k, c]);
  const rmse = Math.sqrt(points.reduce((sum, p) => sum + (f(p.pods) - p.seconds) ** 2, 0) / points.length);
  return { a, k, c, rmse, points: points.length };
}

/** One fit per bandwidth level of the rows. */
export function fitByBandwidth(
  rows: ReadonlyArray<{ bandwidth: number; pods: number; seconds: number }>,
): Map<number, ExpFit> {
  const byLevel = new Map<number, FitPoint[]>();
  for (const r of rows) {
    const list = byLevel.get(r.bandwidth) ?? [];
    list.push({ pods: r.pods, seconds: r.seconds });
    byLevel.set(r.bandwidth, list);
  }
  const fits = new Map<number, ExpFit>();
  for (const [level, points] of [...byLevel].sort((p, q) => p[0] - q[0])) fits.set(level, fitExponential(points));
  return fits;
}
