// The admission function: seed 003's receive server. It registers the HTTP handler and runs the
// lease sweep; the logic lives beside it (admission.ts, app.ts). See README.md.
import { http } from '@google-cloud/functions-framework';
import { clusterFromEnv } from '../_shared/cluster/kube.js';
import { createLogger } from '../_shared/log.js';
import { Admission } from './admission.js';
import { createAdmissionHandler } from './app.js';
import { loadConfig } from './config.js';

const logger = createLogger('admission');
const config = loadConfig();
const admission = new Admission({ config, cluster: clusterFromEnv(), logger });
admission.startSweeping();

http('admission', createAdmissionHandler(admission, logger));
