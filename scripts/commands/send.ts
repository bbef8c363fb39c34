// `kaskade send --type T --data JSON [--source S]`: posts one binary-mode CloudEvent to a
// broker of the running runtime (the `default` broker of its namespace unless told otherwise).
import { CloudEvent, HTTP } from 'cloudevents';
import type { Command } from 'commander';
import { BadInputError, NotFoundError, UnavailableError } from '../../functions/_shared/errors.js';
import { fetchWithTimeout } from '../../functions/_shared/http.js';
import { loadRuntimeConfig, readState } from '../../knative/runtime/index.js';

interface SendFlags {
  type: string;
  data: string;
  source: string;
  subject?: string;
  broker?: string;
  namespace?: string;
  stateDir?: string;
}

export function register(program: Command): void {
  program
    .command('send')
    .description("post a CloudEvent (binary mode) to the running runtime's broker")
    .requiredOption('--type <type>', 'event type, e.g. dev.kaskade.training.requested')
    .requiredOption('--data <json>', 'event data as JSON')
    .option('--source <source>', 'event source', '/kaskade/cli')
    .option('--subject <subject>', 'event subject')
    .option('--broker <name>', 'broker name (default: the default broker)')
    .option('--namespace <ns>', "broker namespace (default: the runtime's)")
    .option('--state-dir <dir>', 'state folder of the running runtime (KASKADE_STATE_DIR)')
    .action((flags: SendFlags) => send(flags));
}

/** The broker asked for; without --broker, the namespace's `default`, or its only broker. */
export function pickBroker(
  brokers: ReadonlyArray<{ namespace: string; name: string; url: string }>,
  namespace: string,
  name: string | undefined,
): string {
  const inNamespace = brokers.filter((b) => b.namespace === namespace);
  const hit =
    name !== undefined
      ? inNamespace.find((b) => b.name === name)
      : (inNamespace.find((b) => b.name === 'default') ?? (brokers.length === 1 ? brokers[0] : undefined));
  if (hit) return hit.url;
  const known = brokers.map((b) => `${b.namespace}/${b.name}`).join(', ') || 'none';
  throw new NotFoundError(
    `no broker ${namespace}/${name ?? 'default'} in the running runtime (brokers: ${known}); use --namespace and --broker`,
  );
}

async function send(flags: SendFlags): Promise<void> {
  let data: unknown;
  try {
    data = JSON.parse(flags.data);
  } catch (e) {
    throw new BadInputError(`--data must be JSON: ${(e as Error).message}`, { cause: e });
  }
  const state = await readState(flags.stateDir ?? loadRuntimeConfig(process.env).stateDir);
  const url = pickBroker(state.brokers, flags.namespace ?? state.namespace, flags.broker);
  const event = new CloudEvent({
    type: flags.type,
    source: flags.source,
    datacontenttype: 'application/json',
    data,
    ...(flags.subject ? { subject: flags.subject } : {}),
  });
  const message = HTTP.binary(event);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(message.headers)) if (typeof v === 'string') headers[k] = v;
  const body = typeof message.body === 'string' ? message.body : JSON.stringify(message.body);
  const res = await fetchWithTimeout(url, { method: 'POST', headers, body }, 10_000);
  const text = await res.text();
  if (!res.ok) throw new UnavailableError(`broker answered ${res.status}: ${text}`);
  process.stdout.write(`sent ${event.type} id ${event.id} to ${url} (${res.status})\n`);
}
