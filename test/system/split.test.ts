// System tier: the split component with its traffic-shaping proxy (knative/components/split and
// split-proxy, rendered by kustomize) on the local runtime, on the small ResNet: a PNG goes in at
// half A, through the proxy to half B, and a class comes out. Then B's pod is killed while it
// holds a request (frozen with SIGSTOP until the runtime counts the request on it, then
// SIGKILL): A answers a clear 503 within its timeout, and once the runtime has B back, the next
// request succeeds. Every wait is on an event or on the runtime's status, with generous deadlines.
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPLIT_NS as NS, startSplitRuntime, type SplitRuntime } from '../support/split-runtime.js';

/** How long A waits for B (SPLIT_TIMEOUT_MS): generous, so a loaded machine never reaches it by accident. */
const A_TIMEOUT_MS = 30_000;

let split: SplitRuntime;
let png: Uint8Array<ArrayBuffer>;

function predict(): Promise<Response> {
  return fetch(`${split.runtime.url('split-half-a', NS)}/predict`, {
    method: 'POST',
    headers: { 'content-type': 'image/png' },
    body: png,
    signal: AbortSignal.timeout(4 * A_TIMEOUT_MS),
  });
}

beforeAll(async () => {
  png = new Uint8Array(
    await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 20, g: 140, b: 220 } } })
      .png()
      .toBuffer(),
  );
  split = await startSplitRuntime({ SPLIT_TIMEOUT_MS: String(A_TIMEOUT_MS) });
}, 120_000);

afterAll(() => split?.close());

describe('split inference on the local runtime', () => {
  it('an image in at A comes out of B as a class; B killed mid-request is a 503 from A; B back, the next succeeds', async () => {
    const first = await predict();
    expect(first.status).toBe(200);
    const answer = (await first.json()) as Record<string, unknown>;
    expect(answer.class_name).toMatch(/^class \d$/);
    expect(answer.class_id).toBe(Number(String(answer.class_name).slice('class '.length)));
    expect(answer.inference_time_a).toBeGreaterThan(0);
    expect(answer.inference_time_b).toBeGreaterThan(0);
    const described = (await (await fetch(`${split.runtime.url('split-half-b', NS)}/`)).json()) as { engine: string };
    expect(described.engine).toBe('onnxruntime');

    // Freeze B, send a request, and kill B once the runtime has handed the request to it.
    const victim = split.pods('split-half-b').find((p) => p.phase === 'ready');
    expect(victim?.pid).toBeDefined();
    const pid = victim!.pid!;
    process.kill(pid, 'SIGSTOP');
    const started = Date.now();
    const pending = predict();
    await split.until(
      'the request to reach B',
      () => split.pods('split-half-b').some((p) => p.pid === pid && p.inFlight > 0),
      60_000,
    );
    process.kill(pid, 'SIGKILL');
    const failed = await pending;
    const elapsed = Date.now() - started;
    expect(failed.status).toBe(503);
    expect(((await failed.json()) as { error: string }).error).toMatch(/half B/);
    expect(elapsed).toBeLessThan(A_TIMEOUT_MS);

    // The runtime brings B back (min-scale 1); the next request is answered.
    await split.until(
      'a new B pod',
      () => split.pods('split-half-b').some((p) => p.pid !== pid && p.phase === 'ready'),
      240_000,
    );
    const next = await predict();
    expect(next.status).toBe(200);
    expect(((await next.json()) as { class_name: string }).class_name).toBe(answer.class_name);
  }, 600_000);
});
