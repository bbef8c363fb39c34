// Which spans leave the process, by configuration: none by default, OTLP when asked.
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { loadTracingConfig, newTraceparent, traceIdOf } from './tracing.js';

describe('loadTracingConfig', () => {
  const cases = [
    { name: 'nothing set: nothing exported', env: {}, exporter: 'none', enabled: true },
    {
      name: 'an endpoint: OTLP',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' },
      exporter: 'otlp',
      enabled: true,
    },
    {
      name: 'a traces endpoint: OTLP',
      env: { OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' },
      exporter: 'otlp',
      enabled: true,
    },
    {
      name: 'endpoint but exporter none',
      env: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_EXPORTER: 'none' },
      exporter: 'none',
      enabled: true,
    },
    {
      name: 'exporter otlp alone (the exporter’s default endpoint)',
      env: { OTEL_TRACES_EXPORTER: 'otlp' },
      exporter: 'otlp',
      enabled: true,
    },
    { name: 'SDK disabled', env: { OTEL_SDK_DISABLED: 'true' }, exporter: 'none', enabled: false },
  ] as const;
  for (const c of cases)
    it(c.name, () => {
      expect(loadTracingConfig(c.env, 'splitter')).toEqual({
        serviceName: 'splitter',
        exporter: c.exporter,
        enabled: c.enabled,
      });
    });

  it('names the service OTEL_SERVICE_NAME when given', () => {
    expect(loadTracingConfig({ OTEL_SERVICE_NAME: 'mine' }, 'splitter').serviceName).toBe('mine');
  });

  it('refuses an exporter it does not have', () => {
    expect(() => loadTracingConfig({ OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(ConfigError);
  });
});

describe('traceparent values', () => {
  it('reads the trace id of a valid one only', () => {
    expect(traceIdOf('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
    expect(traceIdOf('00-xyz-00f067aa0ba902b7-01')).toBeUndefined();
    expect(traceIdOf(newTraceparent())).toMatch(/^[0-9a-f]{32}$/);
  });

  it('makes new ones valid and distinct, well past one fill of the random pool', () => {
    const made = Array.from({ length: 1000 }, () => newTraceparent());
    for (const t of made) expect(t).toMatch(/^00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-01$/);
    expect(new Set(made.map((t) => traceIdOf(t))).size).toBe(made.length);
    expect(new Set(made.map((t) => t.slice(36, 52))).size).toBe(made.length);
  });
});
