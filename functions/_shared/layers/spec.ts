// What one pipeline layer is: its type and config, as a layer list entry or a layer service's
// `LAYER_TYPE` / `LAYER_CONFIG` env carries them. Parsing checks every field and says which is
// wrong (BadInputError → 400); shape inference lets a whole list be checked before any service
// exists. Tensors are NHWC (TF.js); `ConvLayer` and `FcLayer` are the original design's names.
import { z } from 'zod';
import { BadInputError } from '../errors.js';

export const LAYER_TYPES = ['conv', 'fc', 'flatten', 'batchnorm', 'dropout', 'ConvLayer', 'FcLayer'] as const;

const positive = z.number().int().min(1).max(65_536);
const padding = z.union([z.literal('same'), z.literal('valid'), z.number().int().min(0).max(64)]);

const convConfig = z.strictObject({
  in_channels: positive,
  out_channels: positive,
  kernel_size: positive.default(3),
  stride: positive.default(1),
  /** Zero padding on every side (a number), or `same` / `valid`. */
  padding: padding.default(0),
  /** Max-pool window and stride after the ReLU; 1 = no pooling. */
  pool_size: positive.default(2),
  pool_stride: positive.optional(),
  activation: z.enum(['relu', 'none']).default('relu'),
});

const fcConfig = z.strictObject({
  in_features: positive,
  out_features: positive,
  activation: z.enum(['relu', 'none', 'identity']).default('relu'),
});

const batchnormConfig = z.strictObject({
  num_features: positive,
  /** Weight of the new batch statistics in the running ones (PyTorch's convention). */
  momentum: z.number().gt(0).max(1).default(0.1),
  eps: z.number().gt(0).max(1).default(1e-5),
});

const dropoutConfig = z.strictObject({ p: z.number().min(0).lt(1).default(0.5) });

export type ConvConfig = z.infer<typeof convConfig>;
export type FcConfig = z.infer<typeof fcConfig>;
export type BatchnormConfig = z.infer<typeof batchnormConfig>;
export type DropoutConfig = z.infer<typeof dropoutConfig>;

export type LayerSpec =
  | { readonly kind: 'conv'; readonly config: ConvConfig }
  | { readonly kind: 'fc'; readonly config: FcConfig }
  | { readonly kind: 'flatten'; readonly config: Record<string, never> }
  | { readonly kind: 'batchnorm'; readonly config: BatchnormConfig }
  | { readonly kind: 'dropout'; readonly config: DropoutConfig };

export type LayerKind = LayerSpec['kind'];

function parseWith<T>(schema: z.ZodType<T>, config: unknown, type: string): T {
  const result = schema.safeParse(config ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const field = issue && issue.path.length > 0 ? `config.${issue.path.map(String).join('.')}` : 'config';
  throw new BadInputError(`layer type ${type}: ${field}: ${issue?.message ?? 'invalid'}`);
}

/** A layer from its type name and config object; unknown types and bad fields are a 400. */
export function parseLayerSpec(type: unknown, config: unknown): LayerSpec {
  switch (type) {
    case 'conv':
    case 'ConvLayer':
      return { kind: 'conv', config: parseWith(convConfig, config, type) };
    case 'fc':
    case 'FcLayer':
      return { kind: 'fc', config: parseWith(fcConfig, config, type) };
    case 'flatten':
      return { kind: 'flatten', config: parseWith(z.strictObject({}), config, type) };
    case 'batchnorm':
      return { kind: 'batchnorm', config: parseWith(batchnormConfig, config, type) };
    case 'dropout':
      return { kind: 'dropout', config: parseWith(dropoutConfig, config, type) };
    default:
      throw new BadInputError(`unknown layer type ${JSON.stringify(type)}; known types: ${LAYER_TYPES.join(', ')}`);
  }
}

/** Reads `LAYER_CONFIG`-style JSON text. */
export function parseLayerConfigText(text: string, variable: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new BadInputError(`${variable} is not valid JSON: ${(e as Error).message}`, { cause: e });
  }
}

function convOut(size: number, kernel: number, stride: number, pad: ConvConfig['padding']): number {
  if (pad === 'same') return Math.ceil(size / stride);
  const p = pad === 'valid' ? 0 : pad;
  return Math.floor((size + 2 * p - kernel) / stride) + 1;
}

/** The per-example output shape for a per-example input shape; BadInputError when they do not fit. */
export function outputShape(spec: LayerSpec, input: readonly number[]): number[] {
  const elements = input.reduce((a, b) => a * b, 1);
  switch (spec.kind) {
    case 'conv': {
      const c = spec.config;
      const [h, w, ch] = input;
      if (input.length !== 3 || h === undefined || w === undefined || ch === undefined) {
        throw new BadInputError(`conv layer takes [height, width, channels] examples, got [${input.join(', ')}]`);
      }
      if (ch !== c.in_channels)
        throw new BadInputError(`conv layer has in_channels ${c.in_channels}, input has ${ch} channels`);
      const oh = convOut(h, c.kernel_size, c.stride, c.padding);
      const ow = convOut(w, c.kernel_size, c.stride, c.padding);
      const poolStride = c.pool_stride ?? c.pool_size;
      const ph = Math.floor((oh - c.pool_size) / poolStride) + 1;
      const pw = Math.floor((ow - c.pool_size) / poolStride) + 1;
      if (oh < 1 || ow < 1 || ph < 1 || pw < 1)
        throw new BadInputError(`conv layer: input ${h}×${w} is too small for its kernel and pooling`);
      return [ph, pw, c.out_channels];
    }
    case 'fc':
      if (elements !== spec.config.in_features) {
        throw new BadInputError(
          `fc layer has in_features ${spec.config.in_features}, input has ${elements} features per example`,
        );
      }
      return [spec.config.out_features];
    case 'flatten':
      return [elements];
    case 'batchnorm': {
      const channels = input[input.length - 1];
      if (channels !== spec.config.num_features) {
        throw new BadInputError(
          `batchnorm layer has num_features ${spec.config.num_features}, input has ${channels ?? 0} channels`,
        );
      }
      return [...input];
    }
    case 'dropout':
      return [...input];
  }
}

/** Checks a whole chain from the input shape; the per-example output shape of every layer. */
export function chainShapes(specs: readonly LayerSpec[], input: readonly number[]): number[][] {
  const shapes: number[][] = [];
  let shape = [...input];
  specs.forEach((spec, i) => {
    try {
      shape = outputShape(spec, shape);
    } catch (e) {
      throw new BadInputError(`layer ${i}: ${(e as Error).message}`, { cause: e });
    }
    shapes.push(shape);
  });
  return shapes;
}

/** The seed's network: conv 1→32, conv 32→64 (3×3, no padding, max-pool 2), fc 1600→128, fc 128→10. */
export const SEED_LAYERS = [
  { type: 'ConvLayer', config: { in_channels: 1, out_channels: 32, kernel_size: 3, padding: 0 } },
  { type: 'ConvLayer', config: { in_channels: 32, out_channels: 64, kernel_size: 3, padding: 0 } },
  { type: 'FcLayer', config: { in_features: 1600, out_features: 128, activation: 'relu' } },
  { type: 'FcLayer', config: { in_features: 128, out_features: 10, activation: 'none' } },
] as const;
