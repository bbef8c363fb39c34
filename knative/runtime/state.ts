// The state file `<stateDir>/runtime.json`: how `kaskade status` and `kaskade send` find the
// running runtime (its admin URL and broker URL). Written at start, removed at close.
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { NotFoundError } from '../../functions/_shared/errors.js';

const stateSchema = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  host: z.string(),
  adminUrl: z.string(),
  namespace: z.string(),
  /** The `default` broker of `namespace`, when there is one. */
  brokerUrl: z.string().nullable(),
  brokers: z.array(z.object({ namespace: z.string(), name: z.string(), url: z.string() })),
  startedAt: z.string(),
  /** The Kubernetes API and the admin kubeconfig for it. */
  kubeApiUrl: z.string().optional(),
  kubeconfig: z.string().optional(),
});

export type RuntimeStateFile = z.infer<typeof stateSchema>;

export const STATE_FILE = 'runtime.json';

export async function writeState(stateDir: string, state: RuntimeStateFile): Promise<void> {
  const path = join(stateDir, STATE_FILE);
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, `${JSON.stringify(state, null, 2)}\n`);
  await rename(tmp, path);
}

/** Removes the state file if it still belongs to `pid` (another runtime may have replaced it). */
export async function removeState(stateDir: string, pid: number): Promise<void> {
  const current = await readState(stateDir).catch(() => null);
  if (current?.pid === pid) await rm(join(stateDir, STATE_FILE), { force: true });
}

/** The running runtime's state; NotFoundError when none is running (or its process is gone). */
export async function readState(stateDir: string): Promise<RuntimeStateFile> {
  const path = join(stateDir, STATE_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new NotFoundError(`no running runtime: ${path} does not exist (start one with \`kaskade up\`)`, { cause: e });
  }
  const state = stateSchema.parse(JSON.parse(text));
  if (!alive(state.pid)) throw new NotFoundError(`no running runtime: process ${state.pid} from ${path} has exited`);
  return state;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
