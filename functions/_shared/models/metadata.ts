// What a served model is: the metadata every published model folder carries beside its
// TF.js layers artifacts. The aggregator writes it (`kaskade.json` next to `model.json`, after
// evaluating the round model); the predictor reads it to know the input a model takes, the
// names of its classes, and which job, round and test accuracy it came from.
import { z } from 'zod';
import { BadInputError } from '../errors.js';

/** File name of the metadata inside a model folder, beside `model.json`. */
export const MODEL_METADATA_FILE = 'kaskade.json';

/** Key under `model.json`'s `userDefinedMetadata` where the same object may live instead. */
export const MODEL_METADATA_KEY = 'kaskade';

export const MODEL_METADATA_FORMAT = 'kaskade.model/v1';

/**
 * A grayscale (or colour) image, values in [0, 1] with ink / object bright on a dark background
 * (the MNIST convention). `framing` says how a client should place an arbitrary picture:
 * `digit` = MNIST's recipe (fit the ink into a 20×20 box, centre of mass at the centre);
 * `object` = scale the whole object to fill the frame (Fashion-MNIST).
 */
const imageInputSchema = z.object({
  kind: z.literal('image'),
  height: z.int().positive(),
  width: z.int().positive(),
  channels: z.int().positive(),
  framing: z.enum(['digit', 'object']),
});

/**
 * A fixed-length sequence of token ids (0 ≤ id < vocabularySize) as the model was trained on.
 * `vocabularyFile` (beside model.json) lets a server turn raw text into ids with the same
 * tokenizer the training data went through.
 */
const tokensInputSchema = z.object({
  kind: z.literal('tokens'),
  sequenceLength: z.int().positive(),
  vocabularySize: z.int().positive(),
  padIndex: z.int().nonnegative(),
  oovIndex: z.int().nonnegative(),
  vocabularyFile: z.string().min(1).optional(),
});

/** What a model takes, as a served model's metadata and a job record both describe it. */
export const modelInputSchema = z.discriminatedUnion('kind', [imageInputSchema, tokensInputSchema]);

const modelMetadataSchema = z.object({
  format: z.literal(MODEL_METADATA_FORMAT),
  /** Architecture, e.g. `mnist-cnn`, `imdb-fast`. */
  model: z.string().min(1),
  /** Data set the model was trained on, e.g. `mnist`, `fashion-mnist`, `imdb`. */
  dataset: z.string().min(1),
  jobId: z.string().min(1),
  /** 1-based round of federated averaging that produced these weights. */
  round: z.int().positive(),
  rounds: z.int().positive(),
  /** Held-out accuracy and loss of exactly these weights; null when not evaluated. */
  testAccuracy: z.number().min(0).max(1).nullable(),
  testLoss: z.number().nonnegative().nullable(),
  /** ISO 8601 time the artifact was written. */
  createdAt: z.string().min(1),
  /**
   * Class names in the order of the model's output units. A single sigmoid unit has two
   * labels: [negative class, positive class].
   */
  labels: z.array(z.string().min(1)).min(2),
  input: modelInputSchema,
});

export type ModelMetadata = z.infer<typeof modelMetadataSchema>;
export type ModelInput = ModelMetadata['input'];
export type ImageInput = z.infer<typeof imageInputSchema>;
export type TokensInput = z.infer<typeof tokensInputSchema>;

/** Validates parsed JSON as model metadata; BadInputError naming every problem otherwise. */
export function parseModelMetadata(value: unknown, where = MODEL_METADATA_FILE): ModelMetadata {
  const result = modelMetadataSchema.safeParse(value);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
    throw new BadInputError(`invalid model metadata in ${where}: ${problems}`);
  }
  return result.data;
}

/** The bytes of `kaskade.json` for a metadata object (validated first, so writers cannot drift). */
export function encodeModelMetadata(metadata: ModelMetadata): Uint8Array {
  return new TextEncoder().encode(`${JSON.stringify(parseModelMetadata(metadata), null, 2)}\n`);
}

/** Reads `kaskade.json` bytes. */
export function decodeModelMetadata(bytes: Uint8Array, where = MODEL_METADATA_FILE): ModelMetadata {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new BadInputError(`${where} is not JSON: ${(cause as Error).message}`, { cause });
  }
  return parseModelMetadata(value, where);
}

/**
 * Conventional name of a token model's vocabulary beside model.json (the metadata's
 * `input.vocabularyFile`): a JSON array of words, the word at position p having index p + 3
 * (0 = padding, 1 = start of review, 2 = out of vocabulary), as `TextDataset.words`.
 */
export const VOCABULARY_FILE = 'vocabulary.json';

export function encodeVocabulary(words: readonly string[]): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(words));
}

export function decodeVocabulary(bytes: Uint8Array, where = VOCABULARY_FILE): string[] {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder().decode(bytes));
  } catch (cause) {
    throw new BadInputError(`${where} is not JSON: ${(cause as Error).message}`, { cause });
  }
  if (!Array.isArray(value) || !value.every((w): w is string => typeof w === 'string' && w !== '')) {
    throw new BadInputError(`${where} must be a JSON array of non-empty words`);
  }
  return value;
}
