// Crash consistency: a small federated job (2 shards × 4 rounds, 600 digits) on the local
// runtime with the shipped manifests (knative/base: real worker processes, the broker, the
// ingress holding requests while pods start), the broker's retry raised from 3 to 10 (linear,
// 0.5 s) for the run: with 3, an event whose pod is killed 4 times is dead-lettered and fails
// the job, which is that policy working, not a crash. Run once undisturbed and once under 20 seeded
// SIGKILLs of shard-trainer and aggregator pods. Some kills are timed at random; the others hit
// a pod mid-save: when a store temp file appears, the pod that has it open is killed before the
// rename. Every resume must read complete checkpoints (every round model and shard weights file
// decodes, nothing logs a corrupt or truncated file), no round is lost or counted twice (results
// 1 to 4 once each, both shards in each), and the final accuracy is within 1 % of the
// undisturbed run with the same seed.
import { watch, type FSWatcher } from 'node:fs';
import { cp, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestTraining } from '../../events/training-client.js';
import { decodeWeights } from '../../functions/_shared/jobs/artifacts.js';
import { jobLayout } from '../../functions/_shared/jobs/layout.js';
import { findJob, type JobRecord } from '../../functions/_shared/jobs/record.js';
import { openStore, type Store } from '../../functions/_shared/store/index.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { REPO_ROOT } from '../support/fixtures.js';
import { writeSmallMnist } from '../support/mnist-idx.js';

const NS = 'kaskade';
const KILLS = 20;
const SEED = 20_261_202;
const VICTIMS = ['shard-trainer', 'aggregator'];

let stateDir: string;
let dataDir: string;
let root: string;
let store: Store;
let runtime: Runtime;
const logs: string[] = [];

beforeAll(async () => {
  stateDir = await mkdtemp(join(tmpdir(), 'kaskade-reliability-crash-'));
  dataDir = join(stateDir, 'data');
  await writeSmallMnist(join(dataDir, 'datasets', 'mnist'));
  root = `file://${dataDir}`;
  store = openStore({ roots: [root] });
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logs.push(chunk.toString()));
  const manifests = join(stateDir, 'manifests');
  await cp(join(REPO_ROOT, 'knative', 'base'), manifests, { recursive: true });
  const broker = join(manifests, 'broker.yaml');
  const policy = (await readFile(broker, 'utf8'))
    .replace('retry: 3', 'retry: 10')
    .replace('backoffPolicy: exponential', 'backoffPolicy: linear');
  expect(policy).toMatch(/retry: 10\n\s+backoffPolicy: linear/);
  await writeFile(broker, policy);
  runtime = await startRuntime({ manifests, stateDir, port: 0, logSink: sink });
}, 180_000);

afterAll(async () => {
  await runtime?.close();
  await rm(stateDir, { recursive: true, force: true });
});

/** mulberry32: a small seeded generator, so the kill schedule is the same every run. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function request(jobId: string) {
  return {
    jobId,
    dataset: `file://${join(dataDir, 'datasets', 'mnist')}`,
    model: 'mnist-cnn',
    shards: 2,
    strategy: 'iid' as const,
    rounds: 4,
    localEpochs: 1,
    batchSize: 32,
    learningRate: 0.003,
    seed: 7,
  };
}

/** Follows the job in the store (the aggregator may be down at any moment) until it is over. */
async function finished(jobId: string, timeoutMs: number): Promise<JobRecord> {
  const url = jobLayout(root, jobId).record;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await findJob(store, url);
    if (job?.status === 'done' || job?.status === 'failed') return job;
    if (Date.now() > deadline)
      throw new Error(`job ${jobId} not over in ${timeoutMs} ms\n${logs.join('').slice(-6000)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

interface Kill {
  readonly service: string;
  readonly pid: number;
  readonly how: 'timed' | 'mid-save';
  readonly file?: string;
}

/** Running pods of the victim services; with `busy`, only those handling a request now. */
function pods(busy = false): { service: string; pid: number }[] {
  return runtime
    .status()
    .services.filter((s) => VICTIMS.includes(s.name))
    .flatMap((s) =>
      s.pods.flatMap((p) =>
        p.pid === undefined || p.phase !== 'ready' || (busy && p.inFlight === 0)
          ? []
          : [{ service: s.name, pid: p.pid }],
      ),
    );
}

/** The pod that has `path` open right now, if any (Linux: its /proc/<pid>/fd links). */
async function holderOf(path: string): Promise<{ service: string; pid: number } | undefined> {
  for (const pod of pods()) {
    const fds = await readdir(`/proc/${pod.pid}/fd`).catch(() => [] as string[]);
    for (const fd of fds) {
      if ((await readlink(`/proc/${pod.pid}/fd/${fd}`).catch(() => '')) === path) return pod;
    }
  }
  return undefined;
}

/**
 * Kills pods until KILLS are done: at random gaps, a random pod busy with an event; and, when a
 * store temp file appears, the pod writing it. Only running pods, and never twice without a
 * file of the job landing in between: a pod killed while it starts, or the same event's handler
 * killed over and over, tests nothing but the broker's patience (its retries and dead letters
 * have their own suite).
 */
function chaos(jobId: string): { kills: Kill[]; stop(): void; done: Promise<void> } {
  const random = seeded(SEED);
  const kills: Kill[] = [];
  const jobFolder = join(dataDir, 'jobs', jobId);
  let stopped = false;
  let finish: () => void = () => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  // Files of the job that landed (renamed into place or created), and how many had at each
  // service's last kill.
  let landed = 0;
  const landedAtKill = new Map<string, number>();
  const kill = (pod: { service: string; pid: number }, how: Kill['how'], file?: string): void => {
    if (kills.length >= KILLS || landed === landedAtKill.get(pod.service)) return;
    landedAtKill.set(pod.service, landed);
    try {
      process.kill(pod.pid, 'SIGKILL');
    } catch {
      return; // already gone
    }
    kills.push({ ...pod, how, ...(file === undefined ? {} : { file }) });
    if (kills.length >= KILLS) finish();
  };
  // Mid-save: a store temp file (`.~kaskade-<name>.<uuid>.tmp`) lives from its creation to its
  // rename; its writer is killed in between, on about every third save, at most half the kills.
  let watcher: FSWatcher | undefined;
  const armWatcher = (): void => {
    watcher = watch(jobFolder, { recursive: true }, (_event, name) => {
      if (stopped || name === null) return;
      if (!/(^|\/)\.~kaskade-/.test(name)) landed++;
      if (!/\.~kaskade-[^/]*\.tmp$/.test(name)) return;
      if (kills.filter((k) => k.how === 'mid-save').length >= KILLS / 2 || random() > 0.35) return;
      const path = join(jobFolder, name);
      void holderOf(path).then((pod) => {
        if (pod !== undefined && !stopped) kill(pod, 'mid-save', name);
      });
    });
  };
  const timed = async (): Promise<void> => {
    while (!stopped && kills.length < KILLS) {
      await new Promise((r) => setTimeout(r, 500 + random() * 1000));
      if (watcher === undefined) {
        try {
          armWatcher();
        } catch {
          continue; // the job folder is not there yet
        }
      }
      const candidates = pods(true);
      if (stopped || candidates.length === 0) continue;
      kill(candidates[Math.floor(random() * candidates.length)] as { service: string; pid: number }, 'timed');
    }
  };
  void timed();
  return {
    kills,
    done,
    stop: () => {
      stopped = true;
      watcher?.close();
      finish();
    },
  };
}

/** Every checkpoint the job wrote decodes completely. */
async function checkpoints(jobId: string, rounds: number, shards: number): Promise<number> {
  const layout = jobLayout(root, jobId);
  let checked = 0;
  for (let r = 0; r <= rounds; r++) {
    const urls = [
      layout.roundModel(r),
      ...(r === 0 ? [] : Array.from({ length: shards }, (_, k) => layout.shardWeights(r, k))),
    ];
    for (const url of urls) {
      const { weights } = decodeWeights(await store.read(url), url);
      expect(Object.keys(weights).length, url).toBeGreaterThan(0);
      checked++;
    }
  }
  return checked;
}

function summary(job: JobRecord) {
  return job.results.map((r) => ({ round: r.round, participants: [...r.participants].sort() }));
}

describe('crash consistency under 20 seeded SIGKILLs', () => {
  let reference: JobRecord;

  it('the undisturbed job, for reference', async () => {
    const brokerUrl = runtime.brokerUrl(NS, 'default') ?? '';
    const started = Date.now();
    await requestTraining(brokerUrl, request('crash-reference'));
    reference = await finished('crash-reference', 240_000);
    expect(reference.status, logs.join('').slice(-4000)).toBe('done');
    expect(summary(reference)).toEqual([1, 2, 3, 4].map((round) => ({ round, participants: [0, 1] })));
    console.log(
      `undisturbed: ${((Date.now() - started) / 1000).toFixed(1)} s, accuracy ${reference.results.at(-1)?.testAccuracy}`,
    );
  }, 300_000);

  it('trainers and the aggregator killed 20 times, some mid-save: complete checkpoints, every round once, same accuracy', async () => {
    const brokerUrl = runtime.brokerUrl(NS, 'default') ?? '';
    const logStart = logs.length;
    const started = Date.now();
    await requestTraining(brokerUrl, request('crash-chaos'));
    const run = chaos('crash-chaos');
    let job: JobRecord;
    try {
      job = await finished('crash-chaos', 330_000);
    } finally {
      run.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    const runLogs = logs.slice(logStart).join('');
    expect(job.status, `${job.failure?.reason ?? ''}\n${runLogs.slice(-6000)}`).toBe('done');
    expect(run.kills.length, 'every kill landed before the job was over').toBe(KILLS);
    expect(run.kills.filter((k) => k.how === 'mid-save').length, 'some kills mid-save').toBeGreaterThan(0);
    expect(new Set(run.kills.map((k) => k.service))).toEqual(new Set(VICTIMS));
    // No round lost or counted twice.
    expect(summary(job)).toEqual(summary(reference));
    // Every resume read a complete checkpoint: all decode, and nothing complained of a bad one.
    const checked = await checkpoints('crash-chaos', 4, 2);
    expect(runLogs).not.toMatch(/truncated|corrupt|not a safetensors|invalid header|unexpected end/i);
    const [accuracy, expected] = [job.results.at(-1)?.testAccuracy ?? 0, reference.results.at(-1)?.testAccuracy ?? 0];
    expect(Math.abs(accuracy - expected)).toBeLessThanOrEqual(0.01);
    const by = (how: Kill['how'], service: string) =>
      run.kills.filter((k) => k.how === how && k.service === service).length;
    console.log(
      `chaos: ${seconds.toFixed(1)} s, ${run.kills.length} kills (timed: ${by('timed', 'shard-trainer')} trainer + ` +
        `${by('timed', 'aggregator')} aggregator; mid-save: ${by('mid-save', 'shard-trainer')} trainer + ` +
        `${by('mid-save', 'aggregator')} aggregator), ${checked} checkpoints decoded, ` +
        `accuracy ${accuracy} vs ${expected} undisturbed`,
    );
    console.log(
      run.kills
        .filter((k) => k.how === 'mid-save')
        .map((k) => `${k.service}: ${k.file ?? ''}`)
        .join('\n'),
    );
  }, 360_000);
});
