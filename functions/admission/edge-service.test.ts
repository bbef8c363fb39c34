import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.js';
import { edgeServiceManifest } from './edge-service.js';

const envOf = (config: ReturnType<typeof loadConfig>): unknown[] => {
  const container = edgeServiceManifest('image', 1, config).spec.template.spec.containers[0] as { env: unknown[] };
  return container.env;
};

describe('the edge service admission creates', () => {
  it('runs open when admission does', () => {
    expect(JSON.stringify(envOf(loadConfig({})))).not.toContain('KASKADE_AUTH');
  });

  it("is as closed as admission: the token from admission's Secret, the same OIDC audience", () => {
    const env = envOf(
      loadConfig({
        KASKADE_AUTH_SECRET: 'kaskade-auth',
        KASKADE_AUTH_TOKEN: 'x',
        KASKADE_AUTH_OIDC_AUDIENCE: 'kaskade',
      }),
    );
    expect(env).toContainEqual({
      name: 'KASKADE_AUTH_TOKEN',
      valueFrom: { secretKeyRef: { name: 'kaskade-auth', key: 'token' } },
    });
    expect(env).toContainEqual({ name: 'KASKADE_AUTH_OIDC_AUDIENCE', value: 'kaskade' });
  });
});
