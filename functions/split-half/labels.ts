// Class names half B answers with. ImageNet's 1,000 names come from the npm package
// @tensorflow-models/mobilenet (its `imagenet_classes` data module, Apache-2.0), installed with
// Kaskade and never fetched at run time. Other class counts answer `class <id>` unless a list
// is configured (SPLIT_LABELS: a file:// or gs:// text file, one name a line).
import { IMAGENET_CLASSES } from '@tensorflow-models/mobilenet/dist/imagenet_classes.js';
import { BadInputError } from '../_shared/errors.js';
import type { Store } from '../_shared/store/types.js';

export type Labels = (classId: number) => string;

const IMAGENET_COUNT = 1000;

export const numberedLabels: Labels = (i) => `class ${i}`;

export const imagenetLabels: Labels = (i) => IMAGENET_CLASSES[i] ?? `class ${i}`;

/** The names for a model with `classes` outputs: `setting` is auto, imagenet, none, or a list's URL. */
export async function loadLabels(setting: string, classes: number, store: () => Store): Promise<Labels> {
  if (setting === 'none') return numberedLabels;
  if (setting === 'imagenet' || (setting === 'auto' && classes === IMAGENET_COUNT)) {
    if (classes !== IMAGENET_COUNT)
      throw new BadInputError(`SPLIT_LABELS=imagenet names 1000 classes; this model answers ${classes}`);
    return imagenetLabels;
  }
  if (setting === 'auto') return numberedLabels;
  const text = new TextDecoder().decode(await store().read(setting, { maxBytes: 4 << 20 }));
  const names = text.replace(/\r?\n$/, '').split(/\r?\n/);
  if (names.length !== classes)
    throw new BadInputError(`${setting} names ${names.length} classes; this model answers ${classes}`);
  return (i) => names[i] ?? `class ${i}`;
}
