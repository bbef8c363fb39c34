// Browser side: turning pixels (a drawing or an uploaded picture) into the input an image model
// expects. Plain functions over arrays, so they read and test without a canvas.

/** The ink of an RGBA image as grayscale values in [0, 1], row-major. */
export function grayscale(image: { width: number; height: number; data: Uint8ClampedArray }): Float32Array {
  const g = new Float32Array(image.width * image.height);
  const d = image.data;
  for (let i = 0; i < g.length; i++) g[i] = ((d[4 * i] ?? 0) + (d[4 * i + 1] ?? 0) + (d[4 * i + 2] ?? 0)) / (3 * 255);
  return g;
}

export interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
}

/** The smallest box holding every pixel brighter than `threshold`; null for a blank image. */
export function boundingBox(g: Float32Array, w: number, h: number, threshold: number): Box | null {
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if ((g[y * w + x] ?? 0) <= threshold) continue;
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  return x1 < 0 ? null : { x: x0, y: y0, w: x1 - x0 + 1, h: y1 - y0 + 1 };
}

/** Area-average resampling of `box` of the source (width `w`) to `tw` × `th` pixels. */
export function resample(g: Float32Array, w: number, box: Box, tw: number, th: number): Float32Array {
  const out = new Float32Array(tw * th);
  const sx = box.w / tw;
  const sy = box.h / th;
  for (let ty = 0; ty < th; ty++) {
    for (let tx = 0; tx < tw; tx++) {
      const fx0 = box.x + tx * sx;
      const fx1 = fx0 + sx;
      const fy0 = box.y + ty * sy;
      const fy1 = fy0 + sy;
      let sum = 0;
      let area = 0;
      for (let y = Math.floor(fy0); y < Math.ceil(fy1); y++) {
        const wy = Math.min(fy1, y + 1) - Math.max(fy0, y);
        for (let x = Math.floor(fx0); x < Math.ceil(fx1); x++) {
          const wx = Math.min(fx1, x + 1) - Math.max(fx0, x);
          sum += (g[y * w + x] ?? 0) * wx * wy;
          area += wx * wy;
        }
      }
      out[ty * tw + tx] = area > 0 ? sum / area : 0;
    }
  }
  return out;
}

/**
 * MNIST's recipe: the ink fits a box of 20 (of 28) pixels keeping its aspect ratio, and its
 * centre of mass lands on the centre of the frame. 'object' framing fills the frame instead.
 * Null when there is no ink.
 */
export function toModelInput(
  g: Float32Array,
  w: number,
  h: number,
  size: number,
  framing: 'digit' | 'object',
): Float32Array | null {
  const box = boundingBox(g, w, h, 0.08);
  if (!box) return null;
  const inner = framing === 'digit' ? Math.round((size * 20) / 28) : size;
  const scale = inner / Math.max(box.w, box.h);
  const tw = Math.max(1, Math.round(box.w * scale));
  const th = Math.max(1, Math.round(box.h * scale));
  const patch = resample(g, w, box, tw, th);
  let ox = (size - tw) / 2;
  let oy = (size - th) / 2;
  if (framing === 'digit') {
    const centre = centreOfMass(patch, tw, th);
    if (centre) {
      ox = size / 2 - centre.x;
      oy = size / 2 - centre.y;
    }
  }
  ox = Math.min(Math.max(Math.round(ox), 0), size - tw);
  oy = Math.min(Math.max(Math.round(oy), 0), size - th);
  const out = new Float32Array(size * size);
  for (let y = 0; y < th; y++)
    for (let x = 0; x < tw; x++) out[(y + oy) * size + x + ox] = Math.min(1, patch[y * tw + x] ?? 0);
  return out;
}

function centreOfMass(patch: Float32Array, w: number, h: number): { x: number; y: number } | null {
  let m = 0;
  let cx = 0;
  let cy = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const v = patch[y * w + x] ?? 0;
      m += v;
      cx += v * (x + 0.5);
      cy += v * (y + 0.5);
    }
  }
  return m > 0 ? { x: cx / m, y: cy / m } : null;
}

/**
 * An uploaded picture's grayscale as light ink on a dark ground, the way MNIST looks: dark ink
 * on light paper (most photos and scans) is inverted, the background level goes to 0 and faint
 * noise is dropped. Returns one brightness byte per pixel.
 */
export function inkOnDark(g: Float32Array, width: number, height: number): Uint8ClampedArray {
  let border = 0;
  let n = 0;
  for (let i = 0; i < width; i++) {
    border += (g[i] ?? 0) + (g[(height - 1) * width + i] ?? 0);
    n += 2;
  }
  const invert = border / n > 0.5;
  let hi = 0;
  const values = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) {
    const v = invert ? 1 - (g[i] ?? 0) : (g[i] ?? 0);
    values[i] = v;
    hi = Math.max(hi, v);
  }
  const background = invert ? 1 - border / n : border / n;
  const span = Math.max(1e-6, hi - background);
  const out = new Uint8ClampedArray(g.length);
  for (let i = 0; i < g.length; i++) {
    const v = Math.max(0, ((values[i] ?? 0) - background) / span);
    out[i] = Math.round(Math.min(1, v < 0.15 ? 0 : v) * 255);
  }
  return out;
}
