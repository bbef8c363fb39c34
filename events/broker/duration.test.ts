import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../functions/_shared/errors.js';
import { parseDuration } from './duration.js';

describe('parseDuration', () => {
  it.each([
    { name: 'fractional seconds', text: 'PT0.2S', ms: 200 },
    { name: 'comma decimal', text: 'PT0,5S', ms: 500 },
    { name: 'whole seconds', text: 'PT600S', ms: 600_000 },
    { name: 'minutes', text: 'PT1M', ms: 60_000 },
    { name: 'fractional minutes', text: 'PT1.5M', ms: 90_000 },
    { name: 'hours', text: 'PT2H', ms: 7_200_000 },
    { name: 'one day', text: 'P1D', ms: 86_400_000 },
    { name: 'week', text: 'P1W', ms: 7 * 86_400_000 },
    { name: 'month as 30 days', text: 'P1M', ms: 30 * 86_400_000 },
    { name: 'year as 365 days', text: 'P1Y', ms: 365 * 86_400_000 },
    { name: 'mixed date and time', text: 'P1DT2H30M5S', ms: 86_400_000 + 2 * 3_600_000 + 30 * 60_000 + 5000 },
    { name: 'zero', text: 'PT0S', ms: 0 },
    { name: 'lowercase accepted', text: 'pt3s', ms: 3000 },
  ])('$name: $text → $ms ms', ({ text, ms }) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it.each([
    { name: 'empty', text: '' },
    { name: 'bare P', text: 'P' },
    { name: 'T without a component', text: 'PT' },
    { name: 'trailing T', text: 'P1DT' },
    { name: 'missing P', text: '1S' },
    { name: 'plain number', text: '200' },
    { name: 'negative', text: '-PT1S' },
    { name: 'time unit before T', text: 'P1S' },
    { name: 'wrong order', text: 'PT1S1M' },
    { name: 'Go style', text: '200ms' },
  ])('rejects $name ("$text") naming the setting', ({ text }) => {
    expect(() => parseDuration(text, 'delivery.backoffDelay')).toThrow(ConfigError);
    expect(() => parseDuration(text, 'delivery.backoffDelay')).toThrow(/delivery\.backoffDelay/);
  });
});
