// Raw review text → token ids for a served token model, with the vocabulary published beside
// it and the same tokenizer its training data went through (lowercase words, Keras-style
// start token, front padding). A review with no words, or with more words than the model reads
// (its sequence length less the start token), is refused rather than silently cut.
import { BadInputError } from '../_shared/errors.js';
import { OOV, PAD, encodeTokens, tokenize, vocabularyFromWords } from '../_shared/data/imdb-text.js';
import { decodeVocabulary } from '../_shared/models/metadata.js';
import type { TextEncoderFactory } from './model-loader.js';

export const reviewTextEncoder: TextEncoderFactory = (bytes, input) => {
  if (input.padIndex !== PAD || input.oovIndex !== OOV) {
    throw new BadInputError(
      `the review tokenizer pads with ${PAD} and marks unknown words ${OOV}; the model says ${input.padIndex} and ${input.oovIndex}`,
    );
  }
  const vocabulary = vocabularyFromWords(decodeVocabulary(bytes, input.vocabularyFile));
  if (vocabulary.size > input.vocabularySize) {
    throw new BadInputError(
      `the vocabulary has ${vocabulary.size} indices but the model embeds only ${input.vocabularySize}`,
    );
  }
  const length = input.sequenceLength;
  const maxWords = length - 1;
  return (texts) => {
    const out = new Int32Array(texts.length * length);
    texts.forEach((text, i) => {
      const tokens = tokenize(text);
      if (tokens.length === 0) throw new BadInputError(`data[${i}]: the review is empty (it has no words)`);
      if (tokens.length > maxWords) {
        throw new BadInputError(
          `data[${i}]: the review has ${tokens.length} words, over this model's token limit of ${maxWords} words (${length} tokens with the start token)`,
        );
      }
      encodeTokens(tokens, vocabulary, length, out.subarray(i * length, (i + 1) * length));
    });
    return out;
  };
};
