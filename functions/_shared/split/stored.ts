// A model cut in two, as `kaskade split --out <url>` writes it and the split-half services read
// it: `<url>/split.json` (the cut and where it came from), `<url>/front/` and `<url>/back/`, each
// holding `model.onnx` and/or a TF.js layers model (`model.json` + weights).
import { z } from 'zod';
import { BadInputError, NotFoundError } from '../errors.js';
import { joinStoreUrl } from '../store/url.js';
import type { Store } from '../store/types.js';
import type { Cut } from './cuts.js';

export const SPLIT_FILE = 'split.json';
export const HALF_FOLDERS = { A: 'front', B: 'back' } as const;

const cutSchema = z.object({
  layer: z.string().min(1),
  index: z.number().int().nonnegative(),
  shape: z.array(z.number().int().positive()),
  bytes: z.number().int().nonnegative(),
  flopsFront: z.number().nonnegative(),
  flopsBack: z.number().nonnegative(),
  paramsFront: z.number().nonnegative(),
  paramsBack: z.number().nonnegative(),
});

const storedSchema = z.object({
  version: z.literal(1),
  /** The whole model the halves were cut from (`resnet50`, a file:// or gs:// URL). */
  model: z.string(),
  cut: cutSchema,
  /** The forms each half folder holds. */
  forms: z.object({ onnx: z.boolean(), tfjs: z.boolean() }),
});

export type StoredSplit = z.infer<typeof storedSchema>;

export function halfFolder(url: string, half: keyof typeof HALF_FOLDERS): string {
  return `${joinStoreUrl(url, HALF_FOLDERS[half])}/`;
}

export async function writeSplitFile(store: Store, url: string, split: Omit<StoredSplit, 'version'>): Promise<void> {
  const body: StoredSplit = { version: 1, ...split };
  await store.write(joinStoreUrl(url, SPLIT_FILE), new TextEncoder().encode(`${JSON.stringify(body, null, 2)}\n`), {
    contentType: 'application/json',
  });
}

/** Reads and checks `<url>/split.json`; NotFoundError names what to run when it is absent. */
export async function readSplitFile(store: Store, url: string): Promise<StoredSplit & { cut: Cut }> {
  const at = joinStoreUrl(url, SPLIT_FILE);
  let text: string;
  try {
    text = new TextDecoder().decode(await store.read(at, { maxBytes: 1 << 20 }));
  } catch (e) {
    if (e instanceof NotFoundError)
      throw new NotFoundError(`${at} is missing: write the halves with kaskade split --out ${url}`, { cause: e });
    throw e;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new BadInputError(`${at} is not JSON: ${(e as Error).message}`, { cause: e });
  }
  const checked = storedSchema.safeParse(parsed);
  if (!checked.success) throw new BadInputError(`${at} is not a split file: ${checked.error.message}`);
  return checked.data;
}
