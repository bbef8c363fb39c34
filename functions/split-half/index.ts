// The split-half function (HALF=A or HALF=B): registers the `split-half` HTTP handler with the
// Functions Framework. The model loads in the background; requests get 503 until it is ready.
import { http } from '@google-cloud/functions-framework';
import { initEngine } from '../_shared/engine/index.js';
import { UnavailableError } from '../_shared/errors.js';
import { createLogger } from '../_shared/log.js';
import { loadConfig } from './config.js';
import { loadHalf, type LoadedHalf } from './halves.js';
import { createHalfHandler } from './service.js';

const config = loadConfig();
const logger = createLogger(`split-half-${config.half}`);
let loaded: LoadedHalf | undefined;
let failure: Error | undefined;
void initEngine({ logger })
  .then(({ tf }) => loadHalf(tf, config, config.half, { logger }))
  .then((half) => {
    loaded = half;
    logger.info(`half ${config.half} of ${config.model} cut at ${half.cut.layer} ready on ${half.runner.engine}`);
  })
  .catch((e: unknown) => {
    failure = e as Error;
    logger.error(`loading half ${config.half}: ${failure.message}`);
  });

http(
  'split-half',
  createHalfHandler({
    config,
    logger,
    half: () => {
      if (loaded) return loaded;
      throw new UnavailableError(
        failure ? `the model failed to load: ${failure.message}` : 'the model is still loading; try again shortly',
      );
    },
  }),
);
