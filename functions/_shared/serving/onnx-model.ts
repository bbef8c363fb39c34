// Serving a model on ONNX Runtime: the bytes of a `.onnx` file are checked (a protobuf that
// decodes, a graph with inputs and outputs, weights inside the file and not in side files),
// then one InferenceSession is created and shared by every request until `dispose()`.
// A model is only data here: nothing in it is executed except its ONNX operators.
import type * as ortTypes from 'onnxruntime-node';
import { BadInputError, InferenceError, UnsupportedModelError } from '../errors.js';
import type { OnnxSettings } from './config.js';
import { onnx } from './onnx-proto.js';
import { openThreadSession, type ThreadSession, type ValueInfo } from './onnx-thread.js';
import {
  tensorInfo,
  V2_DATATYPES,
  type HostTensor,
  type ServingModel,
  type TensorData,
  type TensorDtype,
  type TensorInfo,
} from './types.js';

type Ort = typeof ortTypes;

let runtime: Promise<Ort> | undefined;

/** ONNX Runtime's Node binding, loaded on first use (a process that never serves ONNX never loads it). */
export function loadOrt(): Promise<Ort> {
  runtime ??= import('onnxruntime-node').then((m) => ('InferenceSession' in m ? m : (m as { default: Ort }).default));
  return runtime;
}

/** Checks that `bytes` are an ONNX model Kaskade will run, before ONNX Runtime sees them. */
export function inspectOnnx(bytes: Uint8Array, what: string): { readonly graphInputs: number; readonly opset: number } {
  let model: ReturnType<typeof onnx.ModelProto.decode>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new BadInputError(
      `${what} is not an ONNX model (corrupt or truncated protobuf: ${e instanceof Error ? e.message : String(e)})`,
      { cause: e },
    );
  }
  const graph = model.graph;
  const nodes = graph?.node ?? [];
  const inputs = graph?.input ?? [];
  if (nodes.length === 0 || inputs.length === 0 || (graph?.output ?? []).length === 0) {
    throw new BadInputError(`${what} is not an ONNX model (no graph with nodes, inputs and outputs)`);
  }
  const external = (graph?.initializer ?? []).find(
    (t) => t.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL || (t.externalData ?? []).length > 0,
  );
  if (external)
    throw new UnsupportedModelError(
      `${what} keeps tensor "${external.name}" in an external file; serve a model with its weights inside the .onnx file`,
    );
  const opset = model.opsetImport.find((o) => (o.domain ?? '') === '' || o.domain === 'ai.onnx');
  return { graphInputs: inputs.length, opset: Number(opset?.version ?? 0) };
}

function sessionOptions(settings: OnnxSettings): ortTypes.InferenceSession.SessionOptions {
  return {
    intraOpNumThreads: settings.intraOpThreads,
    interOpNumThreads: settings.interOpThreads,
    executionMode: settings.interOpThreads > 1 ? 'parallel' : 'sequential',
    graphOptimizationLevel: settings.graphOptimization,
    executionProviders: [...settings.executionProviders],
  };
}

function isServedDtype(type: string): type is TensorDtype {
  return type in V2_DATATYPES;
}

function metadata(list: readonly ValueInfo[], side: string, what: string): TensorInfo[] {
  return list.map((m) => {
    if (!m.isTensor)
      throw new UnsupportedModelError(
        `${what}: ${side} "${m.name}" is not a tensor (sequences and maps are not served)`,
      );
    if (!isServedDtype(m.type))
      throw new UnsupportedModelError(`${what}: ${side} "${m.name}" has datatype ${m.type}, which is not served`);
    return tensorInfo(
      m.name,
      m.type,
      m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)),
    );
  });
}

function checkFeed(info: TensorInfo, feed: HostTensor): void {
  if (feed.dtype !== info.dtype)
    throw new BadInputError(`input "${info.name}" must be ${info.datatype}, got ${V2_DATATYPES[feed.dtype]}`);
  const fits = feed.shape.length === info.shape.length && info.shape.every((d, k) => d < 0 || d === feed.shape[k]);
  if (!fits)
    throw new BadInputError(
      `input "${info.name}" must have shape [${info.shape.join(',')}] (-1: any), got [${feed.shape.join(',')}]`,
    );
  const size = feed.shape.reduce((a, b) => a * b, 1);
  if (feed.data.length !== size)
    throw new BadInputError(`input "${info.name}" has ${feed.data.length} values for shape [${feed.shape.join(',')}]`);
}

/** The session on the calling thread (KASKADE_ONNX_OWN_THREAD=off): the binding's own. */
async function callerSession(bytes: Uint8Array, options: object): Promise<ThreadSession> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(bytes, options);
  const info = (list: readonly ortTypes.InferenceSession.ValueMetadata[]): ValueInfo[] =>
    list.map((m) =>
      m.isTensor
        ? { name: m.name, isTensor: true, type: m.type, shape: [...m.shape] }
        : { name: m.name, isTensor: false, type: '', shape: [] },
    );
  return {
    inputMetadata: info(session.inputMetadata),
    outputMetadata: info(session.outputMetadata),
    async run(feeds) {
      const ortFeeds: Record<string, ortTypes.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.dtype, t.data, [...t.shape]);
      const results = await session.run(ortFeeds);
      const out: Record<string, HostTensor> = {};
      // Datatypes are checked once, by openOnnxModel, for both kinds of session.
      for (const [name, t] of Object.entries(results))
        out[name] = { dtype: t.type as TensorDtype, shape: [...t.dims], data: t.data as TensorData };
      return out;
    },
    release: () => session.release(),
  };
}

/** Opens `bytes` as a served model; BadInputError / UnsupportedModelError say what is wrong with them. */
export async function openOnnxModel(bytes: Uint8Array, settings: OnnxSettings, what: string): Promise<ServingModel> {
  inspectOnnx(bytes, what);
  let session: ThreadSession;
  try {
    session = settings.ownThread
      ? await openThreadSession(bytes, sessionOptions(settings))
      : await callerSession(bytes, sessionOptions(settings));
  } catch (e) {
    throw new BadInputError(
      `${what} could not be loaded by ONNX Runtime: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
  try {
    const inputs = metadata(session.inputMetadata, 'input', what);
    const outputs = metadata(session.outputMetadata, 'output', what);
    return {
      engine: 'onnx',
      inputs,
      outputs,
      run: async (feeds, options) => {
        const given = Object.keys(feeds);
        const unknown = given.filter((n) => !inputs.some((i) => i.name === n));
        if (unknown.length > 0)
          throw new BadInputError(
            `unknown input ${unknown.map((n) => `"${n}"`).join(', ')}; the model takes ${inputs.map((i) => `"${i.name}"`).join(', ')}`,
          );
        const checked: Record<string, HostTensor> = {};
        for (const info of inputs) {
          const feed = feeds[info.name];
          if (feed === undefined) throw new BadInputError(`input "${info.name}" is missing`);
          checkFeed(info, feed);
          checked[info.name] = feed;
        }
        let results: Record<string, HostTensor>;
        try {
          results = await session.run(checked, options);
        } catch (e) {
          if (e instanceof InferenceError) throw e;
          throw new InferenceError(
            `ONNX Runtime failed to run ${what}: ${e instanceof Error ? e.message : String(e)}`,
            { cause: e },
          );
        }
        const out: Record<string, HostTensor> = {};
        for (const info of outputs) {
          const t = results[info.name];
          if (t === undefined) throw new InferenceError(`${what} gave no output "${info.name}"`);
          const dtype: string = t.dtype;
          if (!isServedDtype(dtype))
            throw new InferenceError(`output "${info.name}" has datatype ${dtype}, which is not served`);
          out[info.name] = t;
        }
        return out;
      },
      dispose: () => session.release(),
    };
  } catch (e) {
    await session.release();
    throw e;
  }
}
