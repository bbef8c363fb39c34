// What a finished model will be served as, decided when the job starts (the splitter is the
// one that knows the dataset): the published name, class labels, and the input description
// the predictor needs. Stored in the job record; the aggregator copies it into kaskade.json.
import { FASHION_MNIST_LABELS } from '../_shared/data/dataset.js';
import type { Dataset } from '../_shared/data/types.js';
import { servedModelName } from '../_shared/jobs/layout.js';
import type { JobServing } from '../_shared/jobs/record.js';
import { OOV, PAD } from '../_shared/data/imdb-text.js';
import { VOCABULARY_FILE } from '../_shared/models/metadata.js';

function imageLabels(name: string, classes: number): string[] {
  if (name.includes('fashion') && classes === FASHION_MNIST_LABELS.length) return [...FASHION_MNIST_LABELS];
  return Array.from({ length: Math.max(2, classes) }, (_, i) => String(i));
}

export function describeServing(datasetUri: string, dataset: Dataset): JobServing {
  const name = servedModelName(datasetUri);
  if (dataset.kind === 'text') {
    return {
      name,
      dataset: name,
      labels: ['negative', 'positive'],
      input: {
        kind: 'tokens',
        sequenceLength: dataset.train.shape[0] ?? 1,
        vocabularySize: dataset.words.length + 3,
        padIndex: PAD,
        oovIndex: OOV,
        vocabularyFile: VOCABULARY_FILE,
      },
    };
  }
  const [height = 1, width = 1, channels = 1] = dataset.train.shape;
  return {
    name,
    dataset: name,
    labels: imageLabels(name, dataset.train.classes),
    input: { kind: 'image', height, width, channels, framing: name.includes('fashion') ? 'object' : 'digit' },
  };
}
