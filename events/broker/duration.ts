// ISO-8601 durations as Knative's delivery spec writes them (`PT0.2S`, `PT1M`, `P1D`,
// `P1DT2H30M`). Years count as 365 days and months as 30 days, which is how Knative
// approximates them too; a fraction is allowed on any component (`PT1.5M`, `PT0,5S`).
import { ConfigError } from '../../functions/_shared/errors.js';

const NUMBER = String.raw`(\d+(?:[.,]\d+)?)`;
const PATTERN = new RegExp(
  `^P(?:${NUMBER}Y)?(?:${NUMBER}M)?(?:${NUMBER}W)?(?:${NUMBER}D)?(?:T(?:${NUMBER}H)?(?:${NUMBER}M)?(?:${NUMBER}S)?)?$`,
);
const DAY = 86_400_000;
const UNIT_MS = [365 * DAY, 30 * DAY, 7 * DAY, DAY, 3_600_000, 60_000, 1000] as const;

/** Milliseconds in an ISO-8601 duration; ConfigError naming `what` when it is not one. */
export function parseDuration(text: string, what = 'duration'): number {
  const match = PATTERN.exec(text.trim().toUpperCase());
  const parts = match?.slice(1) ?? [];
  const hasComponent = parts.some((p) => p !== undefined);
  if (match === null || !hasComponent || text.trim().toUpperCase().endsWith('T')) {
    throw new ConfigError(`${what} must be an ISO-8601 duration such as PT0.5S, PT1M or P1D, got "${text}"`);
  }
  let ms = 0;
  parts.forEach((part, i) => {
    if (part !== undefined) ms += Number(part.replace(',', '.')) * (UNIT_MS[i] ?? 0);
  });
  return Math.round(ms);
}
