// Browser side: the drawing pad. Strokes with mouse, pen or finger (the model is asked when the
// pen lifts), pictures uploaded onto it as light ink on dark, and the pad read back as the input
// an image model expects, shown small as "what the model sees".
import { grayscale, inkOnDark, toModelInput } from './image-input.js';
import { element } from './dom.js';

interface Point {
  x: number;
  y: number;
}

export class DrawingPad {
  readonly #pad = element('pad', HTMLCanvasElement);
  readonly #seen = element('seen', HTMLCanvasElement);
  readonly #ctx: CanvasRenderingContext2D;
  readonly #seenCtx: CanvasRenderingContext2D;
  #drawing = false;
  #prev: Point | null = null;
  #timer = 0;
  #inked = false;

  /** `onLift` runs a moment after the pen lifts. */
  constructor(private readonly onLift: () => void) {
    const ctx = this.#pad.getContext('2d', { willReadFrequently: true });
    const seenCtx = this.#seen.getContext('2d');
    if (!ctx || !seenCtx) throw new TypeError('this browser has no 2D canvas');
    this.#ctx = ctx;
    this.#seenCtx = seenCtx;
    this.#listen();
    this.clear();
  }

  clear(): void {
    this.#ctx.fillStyle = '#000';
    this.#ctx.fillRect(0, 0, this.#pad.width, this.#pad.height);
    this.#seenCtx.clearRect(0, 0, this.#seen.width, this.#seen.height);
    this.#inked = false;
  }

  /** The ink as a size×size model input (shown as what the model sees), or null when blank. */
  read(size: number, framing: 'digit' | 'object'): Float32Array | null {
    if (!this.#inked) return null;
    const { width, height } = this.#pad;
    const one = toModelInput(grayscale(this.#ctx.getImageData(0, 0, width, height)), width, height, size, framing);
    if (one) this.#showSeen(one, size);
    return one;
  }

  /** Draws a picture onto the pad, centred, as light-on-dark grayscale. */
  async upload(file: File): Promise<void> {
    const url = URL.createObjectURL(file);
    try {
      const img = new Image();
      img.src = url;
      await img.decode();
      this.clear();
      const ctx = this.#ctx;
      const pad = this.#pad;
      const s = Math.min(pad.width / img.naturalWidth, pad.height / img.naturalHeight);
      const w = img.naturalWidth * s;
      const h = img.naturalHeight * s;
      const x = (pad.width - w) / 2;
      const y = (pad.height - h) / 2;
      ctx.fillStyle = '#fff';
      ctx.fillRect(x, y, w, h);
      ctx.drawImage(img, x, y, w, h);
      const area = ctx.getImageData(
        Math.round(x),
        Math.round(y),
        Math.max(1, Math.round(w)),
        Math.max(1, Math.round(h)),
      );
      const ink = inkOnDark(grayscale(area), area.width, area.height);
      ink.forEach((b, i) => area.data.set([b, b, b, 255], 4 * i));
      ctx.fillStyle = '#000';
      ctx.fillRect(0, 0, pad.width, pad.height);
      ctx.putImageData(area, Math.round(x), Math.round(y));
      this.#inked = true;
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  #point(ev: PointerEvent): Point {
    const r = this.#pad.getBoundingClientRect();
    return {
      x: (ev.clientX - r.left) * (this.#pad.width / r.width),
      y: (ev.clientY - r.top) * (this.#pad.height / r.height),
    };
  }

  #stroke(from: Point, to: Point): void {
    const ctx = this.#ctx;
    ctx.strokeStyle = '#fff';
    ctx.lineWidth = this.#pad.width / 13;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    this.#inked = true;
  }

  #listen(): void {
    const pad = this.#pad;
    pad.addEventListener('pointerdown', (ev) => {
      ev.preventDefault();
      pad.setPointerCapture(ev.pointerId);
      this.#drawing = true;
      this.#prev = this.#point(ev);
      this.#stroke(this.#prev, this.#prev);
      clearTimeout(this.#timer);
    });
    pad.addEventListener('pointermove', (ev) => {
      if (!this.#drawing || !this.#prev) return;
      const p = this.#point(ev);
      this.#stroke(this.#prev, p);
      this.#prev = p;
    });
    const end = (): void => {
      if (!this.#drawing) return;
      this.#drawing = false;
      clearTimeout(this.#timer);
      this.#timer = window.setTimeout(() => this.onLift(), 250);
    };
    pad.addEventListener('pointerup', end);
    pad.addEventListener('pointercancel', end);
  }

  #showSeen(values: Float32Array, size: number): void {
    const seen = this.#seen;
    seen.width = size;
    seen.height = size;
    const img = this.#seenCtx.createImageData(size, size);
    for (let i = 0; i < values.length; i++) {
      const v = Math.round((values[i] ?? 0) * 255);
      img.data.set([v, v, v, 255], 4 * i);
    }
    this.#seenCtx.putImageData(img, 0, 0);
  }
}
