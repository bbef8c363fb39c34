// Checking a `shard.trained` arrival against what it announces before it is counted. A shard's
// weights are written once (only if absent) by the trainer that trained it, with the result
// they belong to in their metadata, and only then announced. So an arrival whose weights do
// not exist yet (premature or forged), are not a weights file, or whose metadata names another
// job, round or shard, or another example count, is refused: it is never recorded, so it can
// neither claim the round nor lock the genuine result of its shard out.
import { EVENT_TYPES, validateEventData, type ShardTrained } from '../../events/catalog.js';
import { BadInputError, NotFoundError } from '../_shared/errors.js';
import { decodeWeights, SHARD_RESULT_KEY } from '../_shared/jobs/artifacts.js';
import type { Store } from '../_shared/store/types.js';

/** The result stored with the weights at `data.weightsUrl`; BadInputError unless it matches `data`. */
export async function verifyArrival(store: Store, data: ShardTrained): Promise<ShardTrained> {
  let bytes: Uint8Array;
  try {
    bytes = await store.read(data.weightsUrl);
  } catch (e) {
    if (e instanceof NotFoundError) {
      throw new BadInputError(
        `data.weightsUrl: ${data.weightsUrl} does not exist; a shard's result is announced only once its weights are written`,
        { cause: e },
      );
    }
    throw e;
  }
  const { metadata } = decodeWeights(bytes, data.weightsUrl);
  const text = metadata[SHARD_RESULT_KEY];
  if (text === undefined)
    throw new BadInputError(
      `data.weightsUrl: ${data.weightsUrl} carries no ${SHARD_RESULT_KEY} metadata; it is not a shard trainer's result`,
    );
  let stored: ShardTrained;
  try {
    stored = validateEventData(EVENT_TYPES.shardTrained, JSON.parse(text));
  } catch (cause) {
    throw new BadInputError(
      `data.weightsUrl: the ${SHARD_RESULT_KEY} metadata of ${data.weightsUrl} is not a shard result`,
      { cause },
    );
  }
  for (const field of ['jobId', 'round', 'shardIndex', 'shards', 'exampleCount'] as const) {
    if (stored[field] !== data[field]) {
      throw new BadInputError(
        `data.${field}: the weights at ${data.weightsUrl} are ${field} ${JSON.stringify(stored[field])}, not ${JSON.stringify(data[field])}`,
      );
    }
  }
  return stored;
}
