// `npm run bench -- split [--json] [--model resnet50|resnet-small] [--samples N] [--cuts v1,v2,v3]`:
// batch 1 at each stage cut. Monolithic: the whole model in process. Split: the front in this
// process, the activation as a safetensors CloudEvent over loopback to half B's real handler in
// its own process, B's answer back. Sequential vs 4 concurrent clients; bytes per request vs
// the seed's base64 pickle (≈ 4/3 × (raw + pickle header)).
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type * as tfjs from '@tensorflow/tfjs';
import { initEngine } from '../../functions/_shared/engine/index.js';
import { encodeTensors } from '../../functions/_shared/wire/index.js';
import { chooseCut, loadWholeModel } from '../../functions/split-half/halves.js';
import { splitAt } from '../../functions/_shared/split/cuts.js';
import { ACTIVATION_EVENT } from '../../functions/split-half/service.js';

const arg = (argv: string[], name: string, fallback: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function startBack(model: string, cut: string): Promise<{ url: string; child: ChildProcess }> {
  const script = fileURLToPath(new URL('./split/serve-back.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, MODEL_URI: model, SPLIT_CUT: cut },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  for await (const line of lines) {
    const m = /^PORT (\d+)/.exec(line);
    if (m) return { url: `http://127.0.0.1:${m[1]}`, child };
  }
  throw new Error('half B exited before listening');
}

export async function main(argv: string[]): Promise<void> {
  const json = argv.includes('--json');
  const modelName = arg(argv, '--model', 'resnet50');
  const samples = Number(arg(argv, '--samples', '10'));
  const cutSpecs = arg(argv, '--cuts', 'v1,v2,v3').split(',');
  const { tf } = await initEngine();
  const whole = await loadWholeModel(tf, { model: modelName, seed: 7 });
  const inputShape = whole.inputs[0]!.shape.slice(1).map((d) => d ?? 1);
  const x = tf.randomNormal([1, ...inputShape], 0, 1, 'float32', 1);
  const runWhole = async (): Promise<void> => {
    const y = tf.tidy(() => whole.predict(x) as tfjs.Tensor);
    await y.data();
    y.dispose();
  };
  const timed = async (fn: () => Promise<unknown>): Promise<number> => {
    const t = performance.now();
    await fn();
    return performance.now() - t;
  };
  const rows: Record<string, number | string>[] = [];
  for (const spec of cutSpecs) {
    const cut = chooseCut(whole, spec);
    const { front } = splitAt(tf, whole, cut.layer);
    const { url, child } = await startBack(modelName, cut.layer);
    let wireBytes = 0;
    const runSplit = async (): Promise<void> => {
      const a = tf.tidy(() => front.predict(x) as tfjs.Tensor);
      const data = (await a.data()) as Float32Array;
      const shape = a.shape;
      a.dispose();
      const body = encodeTensors({ activation: { dtype: 'F32', shape, data } });
      wireBytes = body.length;
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/octet-stream',
          'ce-specversion': '1.0',
          'ce-type': ACTIVATION_EVENT,
          'ce-id': randomUUID(),
          'ce-source': 'bench',
        },
        body,
        signal: AbortSignal.timeout(120_000),
      });
      if (!res.ok) throw new Error(`half B answered ${res.status}: ${await res.text()}`);
      await res.json();
    };
    try {
      await runWhole();
      await runSplit();
      await runSplit();
      const mono: number[] = [];
      const split: number[] = [];
      for (let i = 0; i < samples; i++) {
        mono.push(await timed(runWhole));
        split.push(await timed(runSplit));
      }
      const seqStart = performance.now();
      for (let i = 0; i < samples; i++) await runSplit();
      const sequentialRps = samples / ((performance.now() - seqStart) / 1000);
      const concStart = performance.now();
      let left = samples;
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (left-- > 0) await runSplit();
        }),
      );
      const concurrentRps = samples / ((performance.now() - concStart) / 1000);
      const raw = cut.bytes;
      const seedBytes = Math.ceil((raw + 160) / 3) * 4;
      rows.push({
        cut: spec,
        layer: cut.layer,
        monolithicP50Ms: pct(mono, 50),
        monolithicP95Ms: pct(mono, 95),
        splitP50Ms: pct(split, 50),
        splitP95Ms: pct(split, 95),
        sequentialRps,
        concurrentRps,
        rawBytes: raw,
        wireBytes,
        seedBytes,
      });
    } finally {
      child.kill('SIGTERM');
    }
  }
  const f = (n: unknown, d = 1): string => (typeof n === 'number' ? n.toFixed(d) : String(n));
  const lines = [
    `split benchmark: ${modelName}, batch 1, ${samples} samples per figure, backend ${tf.getBackend()}`,
    '| cut | after            | mono p50 | mono p95 | split p50 | split p95 | split/mono | added ms | seq rps | 4-client rps | ratio | wire bytes − raw | seed bytes / raw |',
    '|-----|------------------|----------|----------|-----------|-----------|------------|----------|---------|--------------|-------|------------------|------------------|',
    ...rows.map((r) => {
      const n = (k: string): number => r[k] as number;
      return `| ${r.cut} | ${String(r.layer).padEnd(16)} | ${f(n('monolithicP50Ms'))} | ${f(n('monolithicP95Ms'))} | ${f(n('splitP50Ms'))} | ${f(n('splitP95Ms'))} | ${f(n('splitP50Ms') / n('monolithicP50Ms'), 2)}× | ${f(n('splitP50Ms') - n('monolithicP50Ms'))} | ${f(n('sequentialRps'), 2)} | ${f(n('concurrentRps'), 2)} | ${f(n('concurrentRps') / n('sequentialRps'), 2)}× | ${n('wireBytes') - n('rawBytes')} | ${f(n('seedBytes') / n('rawBytes'), 3)}× |`;
    }),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  if (json) process.stdout.write(`${JSON.stringify({ bench: 'split', model: modelName, samples, cuts: rows })}\n`);
  tf.dispose(x);
}
