// A deterministic synthetic movie-review corpus for tests and the offline demo: same seed →
// same reviews, byte for byte. Each review is 2–5 paragraphs (~145 words on average, so a
// 500-token encoding is not mostly padding, as with real IMDB reviews) of neutral movie talk with
// sentiment words mixed in; most sentiment words agree with the label, about one in five
// does not (so a model has to weigh evidence, not spot a single word). Reviews carry the
// aclImdb quirks the tokenizer must handle: `<br /><br />` paragraph breaks, capitals,
// punctuation and contractions. writeAclImdb lays a corpus out as an aclImdb folder.
import type { Store } from '../store/types.js';
import type { Review, ReviewCorpus } from './imdb.js';
import { randomInt, seededRandom, type Random } from './random.js';

const POSITIVE = [
  'brilliant',
  'wonderful',
  'moving',
  'superb',
  'delightful',
  'masterful',
  'gripping',
  'charming',
  'beautiful',
  'excellent',
  'hilarious',
  'touching',
  'stunning',
  'memorable',
  'clever',
  'heartfelt',
  'outstanding',
  'engaging',
  'magnificent',
  'enjoyable',
  'fantastic',
  'powerful',
  'graceful',
  'inspiring',
  'loved',
  'terrific',
  'captivating',
  'fresh',
  'perfect',
  'marvelous',
];
const NEGATIVE = [
  'boring',
  'awful',
  'dull',
  'terrible',
  'clumsy',
  'tedious',
  'pointless',
  'bland',
  'dreadful',
  'weak',
  'predictable',
  'annoying',
  'lifeless',
  'mediocre',
  'forgettable',
  'messy',
  'horrible',
  'stupid',
  'painful',
  'disappointing',
  'lazy',
  'awkward',
  'shallow',
  'hated',
  'wasted',
  'poor',
  'unwatchable',
  'flat',
  'confusing',
  'worst',
];
const SUBJECTS = [
  'the plot',
  'the acting',
  'the script',
  'the director',
  'the soundtrack',
  'the ending',
  'the cast',
  'the cinematography',
  'the dialogue',
  'the lead actress',
  'the villain',
  'the pacing',
  'this movie',
  'the story',
  'the editing',
  'the special effects',
  'the second half',
  'the opening scene',
];
const FILLER = [
  'I watched it with my family last weekend',
  "I didn't know what to expect going in",
  'it runs a little over two hours',
  'the film is set in a small town by the sea',
  'my friend recommended it to me',
  'it is based on a novel from the seventies',
  'there is a long chase through the city',
  "I've seen most of the director's other work",
  'the trailer gives away a lot',
  'it was shown late at night on television',
  'the theater was half empty',
  'the characters travel across the country',
];

export interface SyntheticOptions {
  seed?: number;
  /** Reviews per class (pos and neg) in train; default 1,000. */
  trainPerClass?: number;
  /** Reviews per class in test; default 250. */
  testPerClass?: number;
}

function pick<T>(random: Random, list: readonly T[]): T {
  const item = list[randomInt(random, list.length)];
  if (item === undefined) throw new RangeError('pick from an empty list');
  return item;
}

function capitalize(sentence: string): string {
  return sentence.charAt(0).toUpperCase() + sentence.slice(1);
}

function sentimentWord(random: Random, positive: boolean): string {
  const agrees = random() < 0.8;
  return pick(random, agrees === positive ? POSITIVE : NEGATIVE);
}

function sentence(random: Random, positive: boolean): string {
  switch (randomInt(random, 4)) {
    case 0:
      return `${pick(random, SUBJECTS)} was ${sentimentWord(random, positive)}.`;
    case 1:
      return `${pick(random, FILLER)}, and ${pick(random, SUBJECTS)} felt ${sentimentWord(random, positive)}.`;
    case 2:
      return `${pick(random, FILLER)}.`;
    default:
      return `${sentimentWord(random, positive)} and ${sentimentWord(random, positive)}, that's ${pick(random, SUBJECTS)} for you!`;
  }
}

function reviewText(random: Random, positive: boolean): string {
  const paragraphs = 2 + randomInt(random, 4);
  const parts: string[] = [];
  for (let p = 0; p < paragraphs; p++) {
    const sentences = 3 + randomInt(random, 5);
    parts.push(Array.from({ length: sentences }, () => capitalize(sentence(random, positive))).join(' '));
  }
  return parts.join('<br /><br />');
}

function reviews(random: Random, perClass: number): Review[] {
  const out: Review[] = [];
  for (const label of [1, 0] as const) {
    for (let id = 0; id < perClass; id++) {
      const rating = label === 1 ? 7 + randomInt(random, 4) : 1 + randomInt(random, 4);
      out.push({ id, rating, label, text: reviewText(random, label === 1) });
    }
  }
  return out;
}

export function syntheticReviews(options: SyntheticOptions = {}): ReviewCorpus {
  const random = seededRandom(options.seed ?? 1);
  const train = reviews(random, options.trainPerClass ?? 1000);
  const test = reviews(random, options.testPerClass ?? 250);
  return { train, test };
}

/** Writes `<root>/{train,test}/{pos,neg}/<id>_<rating>.txt`. */
export async function writeAclImdb(store: Pick<Store, 'write'>, rootUrl: string, corpus: ReviewCorpus): Promise<void> {
  const root = rootUrl.endsWith('/') ? rootUrl : `${rootUrl}/`;
  const encoder = new TextEncoder();
  const files = (['train', 'test'] as const).flatMap((split) =>
    corpus[split].map((r) => ({
      url: `${root}${split}/${r.label === 1 ? 'pos' : 'neg'}/${r.id}_${r.rating}.txt`,
      text: r.text,
    })),
  );
  for (let i = 0; i < files.length; i += 32) {
    await Promise.all(
      files.slice(i, i + 32).map((f) => store.write(f.url, encoder.encode(f.text), { contentType: 'text/plain' })),
    );
  }
}
