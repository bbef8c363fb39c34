// `npm run bench -- split [--json] [--model resnet50|resnet-small] [--samples N] [--cuts v1,v2,v3] [--image jpeg|png] [--rps-requests N] [--proxy] [--verbose]`:
// batch 1 at each stage cut, on the serving engine (KASKADE_SERVING_ENGINE, default ONNX Runtime).
// Monolithic: the same image preprocessed and the whole model run in this process. Split: the
// image POSTed to half A through the local runtime's ingress; A preprocesses, runs the front and
// sends the activation as a safetensors CloudEvent through the ingress to half B, each half in
// its own worker process (the manifests of knative/components/split, held at one pod each).
// With --proxy, A's activation goes through split-proxy (unlimited bandwidth) on its way to B.
// Monolithic and split samples alternate, so load from other work falls on both alike.
// Sequential vs 4 concurrent clients; bytes per request vs the seed's base64 pickle
// (≈ 4/3 × (raw + pickle header)). The image is a 500 × 375 photo-like JPEG of about 100 KB
// (ImageNet's photos average about 110 KB), or with --image png a 560 KB PNG of noise (the worst
// case for the client's hop). The client is Node's HTTP client with kept-alive connections.
// The floor: the p50 of an empty GET to a half through the ingress, the least one hop costs
// here; a split request makes two (client → A, A → B). The machine's load average is printed.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { Agent, get as httpGet } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import sharp from 'sharp';
import { parseAllDocuments, stringify } from 'yaml';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { loadServingConfig } from '../../functions/_shared/serving/config.js';
import { exportOnnx } from '../../functions/_shared/serving/export-onnx.js';
import { openOnnxModel } from '../../functions/_shared/serving/onnx-model.js';
import { chooseCut, loadWholeModel } from '../../functions/split-half/halves.js';
import { preprocessImage } from '../../functions/split-half/preprocess.js';
import type { SplitAnswer } from '../../functions/split-half/service.js';
import { postBytes } from '../../functions/_shared/http.js';
import { startRuntime, type Runtime } from '../../knative/runtime/index.js';
import { torchInference } from './engine-inference.js';

const NS = 'kaskade';
const COMPONENTS = join(import.meta.dirname, '..', '..', 'knative', 'components');

const arg = (argv: string[], name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The split component's services (and the proxy), held at exactly one pod each (no scaling during a measurement). */
async function manifests(dir: string, proxy: boolean): Promise<string> {
  const docs: unknown[] = [];
  const files = [
    'split/split-half-a.yaml',
    'split/split-half-b.yaml',
    ...(proxy ? ['split-proxy/split-proxy.yaml'] : []),
  ];
  for (const file of files) {
    for (const doc of parseAllDocuments(await readFile(join(COMPONENTS, file), 'utf8'))) {
      const service = doc.toJS() as { spec: { template: { metadata: { annotations: Record<string, string> } } } };
      const annotations = service.spec.template.metadata.annotations;
      annotations['autoscaling.knative.dev/min-scale'] = '1';
      annotations['autoscaling.knative.dev/max-scale'] = '1';
      docs.push(service);
    }
  }
  docs.push({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'kaskade-function', namespace: NS } });
  const path = join(dir, 'split.yaml');
  await writeFile(path, docs.map((d) => stringify(d)).join('---\n'));
  return path;
}

/**
 * A photo-sized image, as the seed's clients send: smooth colour fields with grain, as a JPEG
 * (quality 92, about 100 KB); or noise as a PNG (every byte incompressible, about 560 KB).
 */
async function benchImage(kind: 'jpeg' | 'png'): Promise<Uint8Array<ArrayBuffer>> {
  const width = 500;
  const height = 375;
  const pixels = Buffer.alloc(width * height * 3);
  if (kind === 'png') {
    for (let i = 0; i < pixels.length; i++) pixels[i] = (i * 2654435761) >>> 24;
    return new Uint8Array(
      await sharp(pixels, { raw: { width, height, channels: 3 } })
        .png()
        .toBuffer(),
    );
  }
  let seed = 12345;
  const grain = (): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32 - 0.5) * 60;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = 3 * (y * width + x);
      const n = grain();
      pixels[i] = 120 + 90 * Math.sin(x / 37) * Math.cos(y / 23) + n;
      pixels[i + 1] = 100 + 80 * Math.sin((x + y) / 51) + n;
      pixels[i + 2] = 140 + 60 * Math.cos(x / 19 - y / 41) + n;
    }
  }
  return new Uint8Array(
    await sharp(pixels, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 92 })
      .toBuffer(),
  );
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const leanAgent = new Agent({ keepAlive: true });
/** GET with Node's client on a kept-alive connection: the status, once the answer is read. */
function fetchLean(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpGet(url, { agent: leanAgent, timeout: 10_000 }, (res) => {
      res.resume();
      res.once('end', () => resolve(res.statusCode ?? 0));
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.once('error', reject);
  });
}

/** ResNet-50 at batch 1 on PyTorch (the engine benchmark's script), when python3-torch is installed. */
async function torchResNet50(
  threads: number,
): Promise<{ version: string; blas: string; p50Ms: number } | { skipped: string }> {
  const result = await torchInference(threads, 5, ['resnet50:1']);
  if ('skipped' in result) return result;
  const run = result.runs.find((r) => r.model === 'resnet50' && r.batch === 1);
  return run
    ? { version: result.torch, blas: result.blas, p50Ms: run.p50Ms }
    : { skipped: 'it measured no resnet50 run' };
}

const ok = async (url: string): Promise<boolean> => {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(5_000) })).ok;
  } catch {
    return false;
  }
};

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const verbose = argv.includes('--verbose');
  const proxy = argv.includes('--proxy');
  const modelName = arg(argv, '--model', 'resnet50');
  const samples = Number(arg(argv, '--samples', '30'));
  // Throughput over more requests than the latency samples: the 4-client run's start and end,
  // with fewer than 4 in flight, then weigh less.
  const rpsRequests = Number(arg(argv, '--rps-requests', String(2 * samples)));
  const cutSpecs = arg(argv, '--cuts', 'v1,v2,v3').split(',');
  const imageKind = arg(argv, '--image', 'jpeg');
  if (imageKind !== 'jpeg' && imageKind !== 'png') throw new Error(`--image is jpeg or png, got "${imageKind}"`);
  const loadAtStart = loadavg()[0] ?? 0;
  const serving = loadServingConfig();
  const { tf } = await initEngine();
  const whole = await loadWholeModel(tf, { model: modelName, seed: 7 });
  const size = whole.inputs[0]?.shape[1] ?? 224;
  const cuts = new Map(cutSpecs.map((spec) => [spec, chooseCut(whole, spec)]));
  const image = await benchImage(imageKind);
  const wholeOnnx = await openOnnxModel(exportOnnx(whole), serving.onnx, `${modelName} (whole)`);
  // The TF.js form is done with: this process also hosts the runtime, whose ingress should not
  // collect garbage around a model it does not serve.
  whole.dispose();
  const input = wholeOnnx.inputs[0]!;
  const modelOnly: number[] = [];
  const runWhole = async (): Promise<void> => {
    const x = await preprocessImage(image, size);
    const t = performance.now();
    await wholeOnnx.run({ [input.name]: { dtype: 'float32', shape: [1, size, size, 3], data: x } });
    modelOnly.push(performance.now() - t);
  };
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const dir = await mkdtemp(join(tmpdir(), 'kaskade-bench-split-'));
  const rows: Record<string, number | string>[] = [];
  try {
    const manifestFile = await manifests(dir, proxy);
    for (const spec of cutSpecs) {
      const cut = cuts.get(spec)!;
      const port = await freePort();
      let runtime: Runtime | undefined;
      try {
        runtime = await startRuntime({
          manifests: manifestFile,
          namespace: NS,
          stateDir: join(dir, spec),
          port,
          broker: null,
          logSink: verbose ? process.stderr : new PassThrough().resume(),
          readinessTimeoutMs: 600_000,
          env: {
            MODEL_URI: modelName,
            SPLIT_CUT: spec,
            SPLIT_SEED: '7',
            SPLIT_NEXT_URL: `http://127.0.0.1:${port}/${NS}/${proxy ? 'split-proxy' : 'split-half-b'}`,
            PROXY_TARGET_URL: `http://127.0.0.1:${port}/${NS}/split-half-b`,
            PROXY_BANDWIDTH: '0',
            SPLIT_TIMEOUT_MS: '120000',
            ...Object.fromEntries(
              Object.entries(process.env).filter(
                (e): e is [string, string] => e[0].startsWith('KASKADE_ONNX_') || e[0] === 'KASKADE_SERVING_ENGINE',
              ),
            ),
          },
        });
        const aUrl = runtime.url('split-half-a', NS);
        const bUrl = runtime.url('split-half-b', NS);
        await until('both halves loaded', async () => (await ok(`${aUrl}/`)) && (await ok(`${bUrl}/`)), 600_000);
        const engines = await Promise.all(
          [aUrl, bUrl].map(async (u) => ((await (await fetch(`${u}/`)).json()) as { engine: string }).engine),
        );
        let last: SplitAnswer | undefined;
        const runSplit = async (): Promise<void> => {
          const res = await postBytes(`${aUrl}/classify`, { 'content-type': `image/${imageKind}` }, image, 120_000);
          if (res.status !== 200) throw new Error(`half A answered ${res.status}: ${res.body.toString()}`);
          last = JSON.parse(res.body.toString('utf8')) as SplitAnswer;
        };
        const floor: number[] = [];
        const probe = async (): Promise<void> => {
          const t = performance.now();
          const res = await fetchLean(`${bUrl}/healthz`);
          floor.push(performance.now() - t);
          if (res !== 200) throw new Error(`half B's probe answered ${res}`);
        };
        for (let i = 0; i < 3; i++) {
          await runWhole();
          await runSplit();
        }
        modelOnly.splice(-3); // the warm-up runs
        const mono: number[] = [];
        const split: number[] = [];
        const atA: number[] = [];
        const parts: Record<'preprocess' | 'front' | 'transfer' | 'back' | 'clientHop', number[]> = {
          preprocess: [],
          front: [],
          transfer: [],
          back: [],
          clientHop: [],
        };
        for (let i = 0; i < samples; i++) {
          await probe();
          mono.push(await timed(runWhole));
          const took = await timed(runSplit);
          split.push(took);
          const a = last;
          if (!a) continue;
          atA.push(a.totalMs);
          // Where the split's time goes: A's stages, the A → B round trip less B's run
          // (encode, HTTP through the ingress, B's body read and decode, its JSON answer), and
          // the client's own hop to A and back.
          parts.preprocess.push(a.preprocessMs);
          parts.front.push(a.frontMs);
          parts.back.push(a.backMs);
          parts.transfer.push(a.totalMs - a.preprocessMs - a.frontMs - a.backMs);
          parts.clientHop.push(took - a.totalMs);
        }
        const seqStart = performance.now();
        for (let i = 0; i < rpsRequests; i++) await runSplit();
        const sequentialRps = rpsRequests / ((performance.now() - seqStart) / 1000);
        const concStart = performance.now();
        let left = rpsRequests;
        await Promise.all(
          Array.from({ length: 4 }, async () => {
            while (left-- > 0) await runSplit();
          }),
        );
        const concurrentRps = rpsRequests / ((performance.now() - concStart) / 1000);
        const raw = cut.bytes;
        rows.push({
          cut: spec,
          layer: cut.layer,
          engines: engines.join('+'),
          monolithicP50Ms: pct(mono, 50),
          monolithicP95Ms: pct(mono, 95),
          splitP50Ms: pct(split, 50),
          splitP95Ms: pct(split, 95),
          splitAtAP50Ms: pct(atA, 50),
          preprocessP50Ms: pct(parts.preprocess, 50),
          frontP50Ms: pct(parts.front, 50),
          transferP50Ms: pct(parts.transfer, 50),
          backP50Ms: pct(parts.back, 50),
          clientHopP50Ms: pct(parts.clientHop, 50),
          hopFloorP50Ms: pct(floor, 50),
          sequentialRps,
          concurrentRps,
          rawBytes: raw,
          wireBytes: last?.activationBytes ?? NaN,
          seedBytes: Math.ceil((raw + 160) / 3) * 4,
        });
      } finally {
        await runtime?.close();
      }
    }
  } finally {
    leanAgent.destroy();
    await wholeOnnx.dispose();
    await rm(dir, { recursive: true, force: true });
  }
  const torch = modelName === 'resnet50' ? await torchResNet50(serving.onnx.intraOpThreads) : null;
  const onnxModelP50Ms = pct(modelOnly, 50);
  const loadAtEnd = loadavg()[0] ?? 0;
  const f = (n: unknown, d = 1): string => (typeof n === 'number' ? n.toFixed(d) : String(n));
  const lines = [
    `split benchmark: ${modelName}${proxy ? ' through split-proxy' : ''}, batch 1, ${samples} samples per latency figure and ${rpsRequests} requests per throughput figure, a ${imageKind.toUpperCase()} of ${image.length} bytes, ONNX Runtime ${serving.onnx.intraOpThreads} intra-op thread(s) per process (sessions ${serving.onnx.ownThread ? 'on an engine thread' : 'on the event loop'}); load average ${loadAtStart.toFixed(1)} → ${loadAtEnd.toFixed(1)}`,
    'mono = preprocess + whole model in process; split = client → runtime → A (preprocess, front) → runtime → B → back; at A = from arrival at A to B’s answer',
    '| cut | after            | mono p50 | mono p95 | split p50 | split p95 | at A p50 | split/mono | added ms | seq rps | 4-client rps | ratio | wire − raw bytes | seed bytes / raw |',
    '|-----|------------------|----------|----------|-----------|-----------|----------|------------|----------|---------|--------------|-------|------------------|------------------|',
    ...rows.map((r) => {
      const n = (k: string): number => r[k] as number;
      return `| ${r.cut} | ${String(r.layer).padEnd(16)} | ${f(n('monolithicP50Ms'))} | ${f(n('monolithicP95Ms'))} | ${f(n('splitP50Ms'))} | ${f(n('splitP95Ms'))} | ${f(n('splitAtAP50Ms'))} | ${f(n('splitP50Ms') / n('monolithicP50Ms'), 3)}× | ${f(n('splitP50Ms') - n('monolithicP50Ms'))} | ${f(n('sequentialRps'), 2)} | ${f(n('concurrentRps'), 2)} | ${f(n('concurrentRps') / n('sequentialRps'), 2)}× | ${n('wireBytes') - n('rawBytes')} | ${f(n('seedBytes') / n('rawBytes'), 3)}× |`;
    }),
    '',
    'Where the split time goes (p50 ms): A preprocess | A front | A → B and back, less B’s run | B back | client → A and back, less A’s time | one hop’s floor (empty GET through the ingress)',
    ...rows.map((r) => {
      const n = (k: string): string => f(r[k], 2);
      return `| ${r.cut} | ${n('preprocessP50Ms')} | ${n('frontP50Ms')} | ${n('transferP50Ms')} | ${n('backP50Ms')} | ${n('clientHopP50Ms')} | ${n('hopFloorP50Ms')} |`;
    }),
    '',
    `The whole model alone (no preprocessing), batch 1, p50: ONNX Runtime ${f(onnxModelP50Ms)} ms` +
      (torch === null
        ? '; PyTorch not measured (a model other than resnet50)'
        : 'skipped' in torch
          ? `; PyTorch not measured (${torch.skipped})`
          : `; PyTorch ${torch.version} (${torch.blas}, ${serving.onnx.intraOpThreads} thread(s)) ${f(torch.p50Ms)} ms: ONNX Runtime / PyTorch = ${f(onnxModelP50Ms / torch.p50Ms, 3)}×`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (json)
    process.stdout.write(
      `${JSON.stringify({ bench: 'split', model: modelName, proxy, samples, rpsRequests, image: { kind: imageKind, bytes: image.length }, onnxModelP50Ms, pytorch: torch, loadAverage: [loadAtStart, loadAtEnd], cuts: rows })}\n`,
    );
}
