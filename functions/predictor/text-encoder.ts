// Raw review text → token ids for a served token model, with the vocabulary published beside
// it and the same tokenizer its training data went through (lowercase words, Keras-style
// start token, front padding, keep the last `sequenceLength` ids).
import { BadInputError } from '../_shared/errors.js';
import { OOV, PAD, encodeTokens, tokenize, vocabularyFromWords } from '../_shared/data/imdb-text.js';
import { decodeVocabulary } from '../_shared/models/metadata.js';
import type { TextEncoderFactory } from './model-loader.js';

export const reviewTextEncoder: TextEncoderFactory = (bytes, input) => {
  if (input.padIndex !== PAD || input.oovIndex !== OOV) {
    throw new BadInputError(`the review tokenizer pads with ${PAD} and marks unknown words ${OOV}; the model says ${input.padIndex} and ${input.oovIndex}`);
  }
  const vocabulary = vocabularyFromWords(decodeVocabulary(bytes, input.vocabularyFile));
  if (vocabulary.size > input.vocabularySize) {
    throw new BadInputError(`the vocabulary has ${vocabulary.size} indices but the model embeds only ${input.vocabularySize}`);
  }
  const length = input.sequenceLength;
  return (texts) => {
    const out = new Int32Array(texts.length * length);
    texts.forEach((text, i) => encodeTokens(tokenize(text), vocabulary, length, out.subarray(i * length, (i + 1) * length)));
    return out;
  };
};
