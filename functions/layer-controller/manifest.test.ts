import { describe, expect, it } from 'vitest';
import { SEED_LAYERS } from '../_shared/layers/spec.js';
import { loadConfig } from './config.js';
import { layerManifest } from './services.js';

const controllerEnv = { KASKADE_STORAGE_ROOTS: 'file:///tmp/kaskade-layers' };

describe('the layer services the controller creates', () => {
  it('run open when the controller does, and its calls to them carry no token', () => {
    const config = loadConfig(controllerEnv);
    const manifest = layerManifest(config.services, 'job', 0, SEED_LAYERS[0]);
    expect(JSON.stringify(manifest)).not.toContain('KASKADE_AUTH');
    expect(config.client.headers).toEqual({});
  });

  it("are as closed as the controller: its Secret's token, and its calls carry the token", () => {
    const config = loadConfig({
      ...controllerEnv,
      KASKADE_AUTH_SECRET: 'kaskade-auth',
      KASKADE_AUTH_TOKEN: 'shared-token',
    });
    const container = layerManifest(config.services, 'job', 0, SEED_LAYERS[0]).spec.template.spec.containers[0] as {
      env: unknown[];
    };
    expect(container.env).toContainEqual({
      name: 'KASKADE_AUTH_TOKEN',
      valueFrom: { secretKeyRef: { name: 'kaskade-auth', key: 'token' } },
    });
    expect(JSON.stringify(container.env)).not.toContain('shared-token');
    expect(config.client.headers).toEqual({ authorization: 'Bearer shared-token' });
  });
});
