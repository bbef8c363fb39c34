// Request bodies of the API: JSON (or YAML for server-side apply), at most 3 MiB as in
// Kubernetes; an unreadable body is a 400 that says why.
import type { IncomingMessage } from 'node:http';
import { parse as parseYaml } from 'yaml';
import { BadInputError, PayloadTooLargeError } from '../../../functions/_shared/errors.js';

const LIMIT = 3 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT) throw new PayloadTooLargeError(`request body over ${LIMIT} bytes`);
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new BadInputError('the request body is empty');
  const yaml = (req.headers['content-type'] ?? '').includes('yaml');
  try {
    return yaml ? (parseYaml(text) as unknown) : (JSON.parse(text) as unknown);
  } catch (e) {
    throw new BadInputError(
      `the request body is not valid ${yaml ? 'YAML' : 'JSON'}: ${e instanceof Error ? e.message : String(e)}`,
      { cause: e },
    );
  }
}
