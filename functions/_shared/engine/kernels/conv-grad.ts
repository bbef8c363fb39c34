// Convolution gradients expressed as forward convolutions, so XNNPACK does the arithmetic:
//
// - weight gradient: a convolution of the transposed input (channels as batch, batch as
//   channels) with the transposed output gradient as the filter; the forward stride becomes
//   the dilation and the forward dilation the stride;
// - input gradient: a convolution of the output gradient (zero-stuffed by the stride, padded
//   to "full") with the spatially flipped filter.
//
// All tensors are NHWC here; the kernels convert NCHW at their edges.
import type * as tf from '@tensorflow/tfjs';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import {
  type ExplicitPadding,
  type Pair,
  type TensorInfo,
  release,
  reshaped,
  runWasmKernel,
  shape4,
  transpose,
} from './wasm-ops.js';

export interface ConvGeometry {
  /** Forward input [N, H, W, C]. */
  readonly inShape: [number, number, number, number];
  readonly filterHeight: number;
  readonly filterWidth: number;
  readonly strides: Pair;
  readonly dilations: Pair;
  readonly padTop: number;
  readonly padLeft: number;
  readonly outHeight: number;
  readonly outWidth: number;
}

export function geometryOf(info: tf.backend_util.Conv2DInfo): ConvGeometry {
  return {
    inShape: [info.batchSize, info.inHeight, info.inWidth, info.inChannels],
    filterHeight: info.filterHeight,
    filterWidth: info.filterWidth,
    strides: [info.strideHeight, info.strideWidth],
    dilations: [info.dilationHeight, info.dilationWidth],
    padTop: info.padInfo.top,
    padLeft: info.padInfo.left,
    outHeight: info.outHeight,
    outWidth: info.outWidth,
  };
}

function explicit(top: number, bottom: number, left: number, right: number): ExplicitPadding {
  return [
    [0, 0],
    [top, bottom],
    [left, right],
    [0, 0],
  ];
}

/** Copies the window [0..h) × [0..w) (after skipping top/left rows) of an NHWC tensor. */
function crop(backend: BackendWasm, x: TensorInfo, top: number, left: number, h: number, w: number): TensorInfo {
  const [n, , , c] = shape4(x.shape, 'x');
  return runWasmKernel(backend, 'Slice', { x }, { begin: [0, top, left, 0], size: [n, h, w, c] });
}

/**
 * Padding (bottom, right) of the transposed input so the weight-gradient convolution yields
 * exactly filterHeight × filterWidth outputs; negative means the forward pass never read the
 * last rows or columns, which are then cropped.
 */
function weightGradTrailingPads(g: ConvGeometry): Pair {
  const [, h, w] = g.inShape;
  const bottom = (g.filterHeight - 1) * g.dilations[0] + (g.outHeight - 1) * g.strides[0] + 1 - h - g.padTop;
  const right = (g.filterWidth - 1) * g.dilations[1] + (g.outWidth - 1) * g.strides[1] + 1 - w - g.padLeft;
  return [bottom, right];
}

/** The forward input with rows/columns the forward pass never read cut off (or itself). */
function usedInput(
  backend: BackendWasm,
  x: TensorInfo,
  g: ConvGeometry,
): { x: TensorInfo; pads: Pair; owned: boolean } {
  const [bottom, right] = weightGradTrailingPads(g);
  if (bottom >= 0 && right >= 0) return { x, pads: [bottom, right], owned: false };
  const [, h, w] = g.inShape;
  const cropped = crop(backend, x, 0, 0, h + Math.min(bottom, 0), w + Math.min(right, 0));
  return { x: cropped, pads: [Math.max(bottom, 0), Math.max(right, 0)], owned: true };
}

/**
 * The patch matrix transposed, [kh·kw·Cin, N·Ho·Wo]: row (ky, kx, ci) holds, for every output
 * position, the input value that tap multiplies (0 in the padding).
 */
function patchesTransposed(backend: BackendWasm, x: TensorInfo, g: ConvGeometry): TensorInfo {
  const [n, h, w, c] = g.inShape;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const { outHeight: ho, outWidth: wo } = g;
  const cols = backend.makeOutput([g.filterHeight * g.filterWidth * c, n * ho * wo], 'float32');
  const out = backend.typedArrayFromHeap(cols);
  const xs = backend.typedArrayFromHeap(x);
  let o = 0;
  for (let ky = 0; ky < g.filterHeight; ky++) {
    for (let kx = 0; kx < g.filterWidth; kx++) {
      for (let ci = 0; ci < c; ci++) {
        for (let b = 0; b < n; b++) {
          for (let oy = 0; oy < ho; oy++) {
            const iy = oy * sh + ky * dh - g.padTop;
            if (iy < 0 || iy >= h) {
              out.fill(0, o, o + wo);
              o += wo;
              continue;
            }
            const row = (b * h + iy) * w * c + ci;
            for (let ox = 0; ox < wo; ox++, o++) {
              const ix = ox * sw + kx * dw - g.padLeft;
              out[o] = ix >= 0 && ix < w ? (xs[row + ix * c] ?? 0) : 0;
            }
          }
        }
      }
    }
  }
  return cols;
}

/** Few input channels (a network's first layer): the weight gradient is one matrix product. */
const IM2COL_MAX_IN_CHANNELS = 4;

/** dW [kh, kw, Cin, Cout] of a dense convolution, from x [N, H, W, Cin] and dy [N, Ho, Wo, Cout]. */
export function conv2dWeightGrad(backend: BackendWasm, x: TensorInfo, dy: TensorInfo, g: ConvGeometry): TensorInfo {
  if (g.inShape[3] <= IM2COL_MAX_IN_CHANNELS) return conv2dWeightGradByMatMul(backend, x, dy, g);
  return conv2dWeightGradByConv(backend, x, dy, g);
}

/** dW = patchesᵀ · dy as one XNNPACK matrix product (the patch matrix built in one pass). */
export function conv2dWeightGradByMatMul(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const [n, , , c] = g.inShape;
  const outChannels = shape4(dy.shape, 'dy')[3];
  const k = g.filterHeight * g.filterWidth * c;
  const m = n * g.outHeight * g.outWidth;
  const cols = patchesTransposed(backend, x, g);
  const dw = runWasmKernel(
    backend,
    'BatchMatMul',
    { a: reshaped(cols, [1, k, m]), b: reshaped(dy, [1, m, outChannels]) },
    { transposeA: false, transposeB: false },
  );
  release(backend, cols);
  return reshaped(dw, [g.filterHeight, g.filterWidth, c, outChannels]);
}

/** dW as a convolution of the transposed input with the transposed output gradient. */
export function conv2dWeightGradByConv(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const [n, , , inChannels] = g.inShape;
  const outChannels = shape4(dy.shape, 'dy')[3];
  const used = usedInput(backend, x, g);
  const [, h, w] = shape4(used.x.shape, 'x');
  // [Cin, H, W, N]: input channels become the batch, the batch becomes the channels.
  const xT = transpose(backend, used.x, [3, 1, 2, 0]);
  if (used.owned) release(backend, used.x);
  // [Ho, Wo, N, Cout]: the output gradient becomes the filter (a view when N = 1).
  const dyT = n === 1 ? reshaped(dy, [g.outHeight, g.outWidth, 1, outChannels]) : transpose(backend, dy, [1, 2, 0, 3]);
  const out = runWasmKernel(
    backend,
    'Conv2D',
    { x: reshaped(xT, [inChannels, h, w, n]), filter: dyT },
    {
      strides: g.dilations,
      dilations: g.strides,
      pad: explicit(g.padTop, used.pads[0], g.padLeft, used.pads[1]),
      dataFormat: 'NHWC',
    },
  );
  release(backend, xT);
  if (n !== 1) release(backend, dyT);
  if (inChannels === 1) return reshaped(out, [g.filterHeight, g.filterWidth, 1, outChannels]);
  const dw = transpose(backend, out, [1, 2, 0, 3]);
  release(backend, out);
  return dw;
}

/**
 * dW [kh, kw, C, M] of a depthwise convolution (channel multiplier M), from x [N, H, W, C]
 * and dy [N, Ho, Wo, C·M]: one depthwise convolution over (channel, batch) pairs, then a sum
 * over the batch.
 */
export function depthwiseWeightGrad(
  backend: BackendWasm,
  x: TensorInfo,
  dy: TensorInfo,
  g: ConvGeometry,
  multiplier: number,
): TensorInfo {
  const [n, , , channels] = g.inShape;
  const used = usedInput(backend, x, g);
  const [, h, w] = shape4(used.x.shape, 'x');
  const xT = transpose(backend, used.x, [1, 2, 3, 0]); // [H, W, C, N]
  if (used.owned) release(backend, used.x);
  const dy5 = reshaped(dy, [n, g.outHeight, g.outWidth, channels, multiplier]);
  const dyT = n === 1 ? dy5 : transpose(backend, dy5, [1, 2, 3, 0, 4]); // [Ho, Wo, C, N, M]
  const out = runWasmKernel(
    backend,
    'DepthwiseConv2dNative',
    {
      x: reshaped(xT, [1, h, w, channels * n]),
      filter: reshaped(dyT, [g.outHeight, g.outWidth, channels * n, multiplier]),
    },
    {
      strides: g.dilations,
      dilations: g.strides,
      pad: explicit(g.padTop, used.pads[0], g.padLeft, used.pads[1]),
    },
  );
  release(backend, xT);
  if (n !== 1) release(backend, dyT);
  const shape = [g.filterHeight, g.filterWidth, channels, multiplier];
  if (n === 1) return reshaped(out, shape);
  const summed = runWasmKernel(
    backend,
    'Sum',
    { x: reshaped(out, [g.filterHeight, g.filterWidth, channels, n, multiplier]) },
    { axis: [3], keepDims: false },
  );
  release(backend, out);
  return reshaped(summed, shape);
}

/**
 * The output gradient stuffed with stride−1 zeros between elements, padded or cropped so a
 * stride-1 convolution with the flipped filter yields exactly the input gradient.
 */
function fullyPaddedGradient(
  backend: BackendWasm,
  dy: TensorInfo,
  g: ConvGeometry,
): { src: TensorInfo; pads: ExplicitPadding; owned: TensorInfo[] } {
  const [n, ho, wo, c] = shape4(dy.shape, 'dy');
  const [sh, sw] = g.strides;
  const owned: TensorInfo[] = [];
  let src = dy;
  if (sh > 1 || sw > 1) {
    const stuffed = runWasmKernel(
      backend,
      'PadV2',
      { x: reshaped(dy, [n, ho, 1, wo, 1, c]) },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
    owned.push(stuffed);
    src = reshaped(stuffed, [n, ho * sh, wo * sw, c]);
  }
  const [, h, w] = g.inShape;
  const [, hd, wd] = shape4(src.shape, 'dy');
  const top = (g.filterHeight - 1) * g.dilations[0] - g.padTop;
  const left = (g.filterWidth - 1) * g.dilations[1] - g.padLeft;
  const bottom = h - hd + g.padTop;
  const right = w - wd + g.padLeft;
  if (top < 0 || left < 0 || bottom < 0 || right < 0) {
    const cut = crop(
      backend,
      src,
      Math.max(-top, 0),
      Math.max(-left, 0),
      hd + Math.min(top, 0) + Math.min(bottom, 0),
      wd + Math.min(left, 0) + Math.min(right, 0),
    );
    owned.push(cut);
    src = cut;
  }
  return { src, pads: explicit(Math.max(top, 0), Math.max(bottom, 0), Math.max(left, 0), Math.max(right, 0)), owned };
}

/** The filter flipped in both spatial axes. */
function flipped(backend: BackendWasm, filter: TensorInfo): TensorInfo {
  return runWasmKernel(backend, 'Reverse', { x: filter }, { dims: [0, 1] });
}

/**
 * When the "full" convolution would mostly multiply padding and stuffed zeros (valid
 * padding, strides), the input gradient is cheaper as dy · Wᵀ followed by a scatter-add.
 */
const COL2IM_MIN_WASTE = 2.5;

/** dx [N, H, W, Cin] of a dense convolution, from dy [N, Ho, Wo, Cout] and W [kh, kw, Cin, Cout]. */
export function conv2dInputGrad(backend: BackendWasm, dy: TensorInfo, filter: TensorInfo, g: ConvGeometry): TensorInfo {
  const [, h, w] = g.inShape;
  const waste = (h * w) / (g.outHeight * g.outWidth);
  if (waste >= COL2IM_MIN_WASTE) return conv2dInputGradByMatMul(backend, dy, filter, g);
  return conv2dInputGradByConv(backend, dy, filter, g);
}

/** dx by col2im: cols = dy · Wᵀ (one XNNPACK product), then each column added where it came from. */
export function conv2dInputGradByMatMul(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const [n, h, w, c] = g.inShape;
  const outChannels = shape4(dy.shape, 'dy')[3];
  const k = g.filterHeight * g.filterWidth * c;
  const m = n * g.outHeight * g.outWidth;
  const wT = transpose(backend, reshaped(filter, [k, outChannels]), [1, 0]);
  const cols = runWasmKernel(
    backend,
    'BatchMatMul',
    { a: reshaped(dy, [1, m, outChannels]), b: reshaped(wT, [1, outChannels, k]) },
    { transposeA: false, transposeB: false },
  );
  release(backend, wT);
  const dx = backend.makeOutput([n, h, w, c], 'float32');
  const out = backend.typedArrayFromHeap(dx);
  const src = backend.typedArrayFromHeap(cols);
  out.fill(0);
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  let o = 0;
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < g.outHeight; oy++) {
      for (let ox = 0; ox < g.outWidth; ox++) {
        for (let ky = 0; ky < g.filterHeight; ky++) {
          const iy = oy * sh + ky * dh - g.padTop;
          for (let kx = 0; kx < g.filterWidth; kx++, o += c) {
            const ix = ox * sw + kx * dw - g.padLeft;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            const at = ((b * h + iy) * w + ix) * c;
            for (let ci = 0; ci < c; ci++) out[at + ci] = (out[at + ci] ?? 0) + (src[o + ci] ?? 0);
          }
        }
      }
    }
  }
  release(backend, cols);
  return dx;
}

/** dx as a stride-1 convolution of the zero-stuffed, fully padded dy with the flipped filter. */
export function conv2dInputGradByConv(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
): TensorInfo {
  const flip = flipped(backend, filter);
  const swapped = transpose(backend, flip, [0, 1, 3, 2]); // [kh, kw, Cout, Cin]
  release(backend, flip);
  const { src, pads, owned } = fullyPaddedGradient(backend, dy, g);
  const dx = runWasmKernel(
    backend,
    'Conv2D',
    { x: src, filter: swapped },
    { strides: [1, 1], dilations: g.dilations, pad: pads, dataFormat: 'NHWC' },
  );
  release(backend, swapped, ...owned);
  return dx;
}

/**
 * dx [N, H, W, C] of a depthwise convolution, from dy [N, Ho, Wo, C·M] and W [kh, kw, C, M]:
 * a depthwise convolution of every output channel with its flipped filter, summed over M.
 */
export function depthwiseInputGrad(
  backend: BackendWasm,
  dy: TensorInfo,
  filter: TensorInfo,
  g: ConvGeometry,
  multiplier: number,
): TensorInfo {
  const [n, h, w, channels] = g.inShape;
  const flip = flipped(backend, filter);
  const { src, pads, owned } = fullyPaddedGradient(backend, dy, g);
  const perChannel = runWasmKernel(
    backend,
    'DepthwiseConv2dNative',
    { x: src, filter: reshaped(flip, [g.filterHeight, g.filterWidth, channels * multiplier, 1]) },
    { strides: [1, 1], dilations: g.dilations, pad: pads },
  );
  release(backend, flip, ...owned);
  if (multiplier === 1) return perChannel;
  const dx = runWasmKernel(
    backend,
    'Sum',
    { x: reshaped(perChannel, [n, h, w, channels, multiplier]) },
    { axis: [4], keepDims: false },
  );
  release(backend, perChannel);
  return reshaped(dx, [n, h, w, channels]);
}
