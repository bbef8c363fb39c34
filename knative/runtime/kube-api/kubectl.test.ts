// Debian's kubectl against the runtime's API with the kubeconfig the runtime writes: get, apply
// (create, unchanged, configured), wait, delete, nodes, and an RBAC denial, as a user would.
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubeRuntime, type KubeRuntime } from '../../../test/support/kube-runtime.js';

const run = promisify(execFile);
let kr: KubeRuntime;

function kubectl(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return kubectlWith(kr.runtime.kubeApi.kubeconfig, ...args);
}

async function kubectlWith(
  kubeconfig: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(
      process.env.KASKADE_KUBECTL ?? 'kubectl',
      ['--kubeconfig', kubeconfig, ...args],
      { timeout: 30_000 },
    );
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : 1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

function manifest(value: string): string {
  return `apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: applied
spec:
  template:
    spec:
      containers:
        - image: kaskade
          env:
            - name: FUNCTION_TARGET
              value: echo
            - name: GREETING
              value: "${value}"
`;
}

beforeAll(async () => {
  kr = await startKubeRuntime();
});

afterAll(async () => {
  await kr.close();
});

describe('kubectl', () => {
  it('get ksvc prints Knative columns for the manifest service', async () => {
    const r = await kubectl('get', 'ksvc');
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^NAME\s+URL\s+LATESTCREATED\s+LATESTREADY\s+READY\s+REASON/);
    expect(r.stdout).toMatch(/\necho\s+http:\/\/echo\.default\.localhost:\d+\s+echo-00001\s+echo-00001\s+True/);
  });

  it('get nodes lists the example edge cluster, and a label selector narrows it', async () => {
    const all = await kubectl('get', 'nodes');
    expect(
      all.stdout
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(/\s+/)[0]),
    ).toEqual(['xavier-1', 'xavier-2', 'tx2-1', 'nano-1']);
    const tx2 = await kubectl('get', 'nodes', '-l', 'machine=tx2', '-o', 'jsonpath={.items[*].metadata.name}');
    expect(tx2.stdout).toBe('tx2-1');
  });

  it('apply -f creates, leaves an unchanged service alone, configures a changed one; wait sees Ready', async () => {
    const file = join(kr.stateDir, 'applied.yaml');
    await writeFile(file, manifest('one'));
    expect((await kubectl('apply', '-f', file)).stdout).toContain('service.serving.knative.dev/applied created');
    expect((await kubectl('wait', '--for=condition=Ready', 'ksvc/applied', '--timeout=30s')).stdout).toContain(
      'condition met',
    );
    expect((await kubectl('apply', '-f', file)).stdout).toContain('unchanged');
    await writeFile(file, manifest('two'));
    expect((await kubectl('apply', '-f', file)).stdout).toContain('configured');
    expect((await kubectl('get', 'ksvc', 'applied', '-o', 'jsonpath={.metadata.generation}')).stdout).toBe('2');
    expect((await kubectl('wait', '--for=condition=Ready', 'ksvc/applied', '--timeout=30s')).code).toBe(0);
    expect((await kubectl('get', 'ksvc', 'applied', '-o', 'jsonpath={.status.latestReadyRevisionName}')).stdout).toBe(
      'applied-00002',
    );
  });

  it('delete removes the service, and a second delete says NotFound', async () => {
    expect((await kubectl('delete', 'ksvc', 'applied')).stdout).toContain('"applied" deleted');
    const again = await kubectl('delete', 'ksvc', 'applied');
    expect(again.code).not.toBe(0);
    expect(again.stderr).toContain('NotFound');
    expect((await kubectl('get', 'ksvc', '-o', 'name')).stdout.trim()).toBe('service.serving.knative.dev/echo');
  });

  it('a ServiceAccount without the verb is refused with Forbidden', async () => {
    const saConfig = await kr.runtime.kubeApi.serviceAccountKubeconfig('default', 'controller');
    expect((await kubectlWith(saConfig, 'get', 'ksvc', 'echo', '-o', 'name')).stdout.trim()).toBe(
      'service.serving.knative.dev/echo',
    );
    const denied = await kubectlWith(saConfig, 'delete', 'ksvc', 'echo');
    expect(denied.code).not.toBe(0);
    expect(denied.stderr).toContain('Forbidden');
    expect((await kubectl('get', 'ksvc', 'echo', '-o', 'name')).stdout.trim()).toBe('service.serving.knative.dev/echo');
  });
});
