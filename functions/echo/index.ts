// The echo function: registers the `echo` HTTP handler with the Functions Framework and exports
// the upgrade hook the Kaskade worker entry wires to the server. Logic lives in echo.ts.
import { http } from '@google-cloud/functions-framework';
import { withErrors } from '../_shared/http.js';
import { createLogger } from '../_shared/log.js';
import { createEcho, loadConfig } from './echo.js';

export { upgrade } from './echo.js';

const logger = createLogger('echo');
http('echo', withErrors(createEcho(loadConfig(), logger), logger));
