import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { KnativeService } from '../../../functions/_shared/cluster/types.js';
import { createLogger } from '../../../functions/_shared/log.js';
import { ServiceController, type ServiceRunner } from './controller.js';
import { ServiceStore } from './store.js';

const NS = 'kaskade';

function service(minScale: string): KnativeService {
  return {
    apiVersion: 'serving.knative.dev/v1',
    kind: 'Service',
    metadata: { name: 'edge-image' },
    spec: {
      template: {
        metadata: { annotations: { 'autoscaling.knative.dev/min-scale': minScale } },
        spec: { containers: [{ image: 'kaskade' }] },
      },
    },
  };
}

/** A runner that, like the runtime's, awaits before it replaces what runs; each run waits for its release. */
class HeldRunner implements ServiceRunner {
  running: string | undefined;
  readonly started: string[] = [];
  private readonly releases = new Map<string, () => void>();
  private readonly readies = new Map<string, () => void>();

  async run(_s: KnativeService, revision: string, events: { ready(): void }): Promise<void> {
    this.started.push(revision);
    await new Promise<void>((resolve) => this.releases.set(revision, resolve));
    this.running = revision;
    this.readies.set(revision, () => events.ready());
  }
  release(revision: string): void {
    this.releases.get(revision)?.();
  }
  ready(revision: string): void {
    this.readies.get(revision)?.();
  }
  stop(): Promise<void> {
    this.running = undefined;
    return Promise.resolve();
  }
  urls(): { url: string; address: string } {
    return { url: 'http://edge-image.kaskade.127.0.0.1.sslip.io', address: 'http://127.0.0.1:1' };
  }
}

describe('ServiceController', () => {
  let dir: string;
  let store: ServiceStore;
  let runner: HeldRunner;
  let controller: ServiceController;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kaskade-controller-'));
    store = await ServiceStore.open(join(dir, 'services.json'));
    runner = new HeldRunner();
    controller = new ServiceController(store, runner, createLogger('controller', new PassThrough()));
    await controller.start([]);
  });

  afterEach(async () => {
    for (const r of runner.started) runner.release(r);
    await controller.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies quick changes to one service in order: the newest generation is what runs and turns Ready', async () => {
    await store.create(NS, service('1'), 'api');
    await vi.waitFor(() => expect(runner.started).toEqual(['edge-image-00001']));
    const second = await store.update(NS, service('0'), 'api');
    await store.update(NS, { ...service('1'), metadata: { ...second.metadata } }, 'api');
    // Generation 1 still starting: the later ones wait for it rather than racing it.
    expect(runner.started).toEqual(['edge-image-00001']);
    runner.release('edge-image-00001');
    // Generation 2 was replaced before its turn came, so only generation 3 runs after 1.
    await vi.waitFor(() => expect(runner.started).toEqual(['edge-image-00001', 'edge-image-00003']));
    runner.release('edge-image-00003');
    await vi.waitFor(() => expect(runner.running).toBe('edge-image-00003'));
    runner.ready('edge-image-00001');
    runner.ready('edge-image-00003');
    await vi.waitFor(() => {
      const status = store.get(NS, 'edge-image')?.status;
      expect(status?.observedGeneration).toBe(3);
      expect(status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      expect(status?.latestReadyRevisionName).toBe('edge-image-00003');
    });
  });
});
