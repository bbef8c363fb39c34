// `kaskade up`: runs every service of the manifests on this machine, in the foreground, with
// one log stream (stderr); prints each service's URLs, the broker URL and the Kubernetes API
// with its kubeconfig (stdout). Ctrl-C stops everything and exits 0.
import { relative } from 'node:path';
import type { Command } from 'commander';
import { ConfigError } from '../../functions/_shared/errors.js';
import { loadRuntimeConfig, startRuntime, type Runtime } from '../../knative/runtime/index.js';

interface UpFlags {
  manifests: string;
  port: string;
  namespace?: string;
  stateDir?: string;
  env: string[];
  timeScale?: string;
  workerMode?: string;
  functions?: string;
  apiPort?: string;
  nodes?: string;
}

export function register(program: Command): void {
  program
    .command('up')
    .description('run the Knative manifests locally: services, brokers, triggers, PingSources')
    .option('--manifests <path>', 'YAML file, folder of YAML files, or kustomize folder', 'knative/')
    .option('--port <port>', 'ingress port (0 picks a free one)', '8080')
    .option('--namespace <ns>', 'namespace of resources that name none (KASKADE_NAMESPACE)')
    .option('--state-dir <dir>', 'state folder: runtime.json, broker journal (KASKADE_STATE_DIR)')
    .option('--env <NAME=VALUE>', 'env value for every service, over the manifests (repeatable)', collect, [])
    .option('--time-scale <factor>', 'multiply every autoscaling window, e.g. 0.1 (KASKADE_KPA_TIME_SCALE)')
    .option('--worker-mode <mode>', 'bundle (fast cold start) or tsx (KASKADE_WORKER_MODE)')
    .option(
      '--functions <dir>',
      'folder of function folders that FUNCTION_TARGET names (KASKADE_FUNCTIONS_DIR; default functions/)',
    )
    .option('--api-port <port>', 'Kubernetes API port, HTTPS (KASKADE_API_PORT; default 6443, 0 picks a free one)')
    .option('--nodes <file>', 'node file the Kubernetes API serves (KASKADE_NODES; default: the example edge cluster)')
    .action((flags: UpFlags) => up(flags));
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

async function up(flags: UpFlags): Promise<void> {
  const config = loadRuntimeConfig(process.env);
  const env: Record<string, string> = {};
  for (const pair of flags.env) {
    const i = pair.indexOf('=');
    if (i <= 0) throw new ConfigError(`--env needs NAME=VALUE, got "${pair}"`);
    env[pair.slice(0, i)] = pair.slice(i + 1);
  }
  const port = Number(flags.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new ConfigError(`--port must be a port number, got "${flags.port}"`);
  const timeScale = flags.timeScale === undefined ? undefined : Number(flags.timeScale);
  if (timeScale !== undefined && !(timeScale > 0))
    throw new ConfigError(`--time-scale must be > 0, got "${flags.timeScale}"`);
  const workerMode = flags.workerMode ?? config.workerMode;
  if (workerMode !== 'bundle' && workerMode !== 'tsx')
    throw new ConfigError(`--worker-mode must be bundle or tsx, got "${workerMode}"`);

  const functionsDir = flags.functions ?? config.functionsDir;
  const apiPort = flags.apiPort === undefined ? config.apiPort : Number(flags.apiPort);
  if (!Number.isInteger(apiPort) || apiPort < 0 || apiPort > 65_535)
    throw new ConfigError(`--api-port must be a port number, got "${flags.apiPort ?? ''}"`);
  const nodes = flags.nodes ?? config.nodes;

  const runtime = await startRuntime({
    manifests: flags.manifests,
    port,
    namespace: flags.namespace ?? config.namespace,
    stateDir: flags.stateDir ?? config.stateDir,
    env,
    workerMode,
    allowZeroInitialScale: config.allowZeroInitialScale,
    kubectl: config.kubectl,
    ...(functionsDir !== undefined ? { functionsDir } : {}),
    readinessTimeoutMs: config.readinessTimeoutMs,
    kpa: timeScale === undefined ? config.kpa : { ...config.kpa, timeScale },
    kubeApi: { port: apiPort, ...(nodes !== undefined ? { nodes } : {}) },
  });
  process.stdout.write(banner(runtime));
  await new Promise<void>((resolveStop) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stderr.write('kaskade: stopping (draining workers)...\n');
      resolveStop();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await runtime.close();
}

function banner(runtime: Runtime): string {
  const s = runtime.status();
  const lines = [`kaskade: runtime up on http://127.0.0.1:${runtime.port} (Ctrl-C to stop)`];
  for (const svc of s.services) lines.push(`  service ${svc.namespace}/${svc.name}  ${svc.hostUrl}  ${svc.url}`);
  for (const b of runtime.manifests.brokers)
    lines.push(`  broker  ${b.namespace}/${b.name}  ${runtime.brokerUrl(b.namespace, b.name) ?? '(not running)'}`);
  for (const p of s.pingSources)
    lines.push(`  ping    ${p.namespace}/${p.name}  ${p.suspended ? 'suspended' : p.schedule} → ${p.sink}`);
  lines.push(
    `  kubernetes API ${runtime.kubeApi.url}: kubectl --kubeconfig ${relativePath(runtime.kubeApi.kubeconfig)} get ksvc`,
  );
  lines.push(`  metrics http://127.0.0.1:${runtime.port}/metrics (Prometheus; each pod: <service URL>/metrics)`);
  return `${lines.join('\n')}\n`;
}

/** The kubeconfig's path as the user would type it from here. */
function relativePath(path: string): string {
  const r = relative(process.cwd(), path);
  return r.startsWith('..') || r === '' ? path : r;
}
