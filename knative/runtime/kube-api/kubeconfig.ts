// Kubeconfig files: the admin's (`<stateDir>/kubeconfig`, for kubectl and the user's scripts) and
// one per ServiceAccount a worker runs as, laid out like a pod's service-account folder (token,
// ca.crt, namespace) plus a kubeconfig over them, which workers find through KUBECONFIG.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';

export interface KubeconfigSpec {
  server: string;
  caPem: string;
  token: string;
  user: string;
  namespace: string;
}

export function kubeconfigYaml(s: KubeconfigSpec): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kaskade-local',
        cluster: { server: s.server, 'certificate-authority-data': Buffer.from(s.caPem).toString('base64') },
      },
    ],
    users: [{ name: s.user, user: { token: s.token } }],
    contexts: [{ name: 'kaskade-local', context: { cluster: 'kaskade-local', user: s.user, namespace: s.namespace } }],
    'current-context': 'kaskade-local',
    preferences: {},
  });
}

export async function writeKubeconfig(path: string, s: KubeconfigSpec): Promise<void> {
  await writePrivate(path, kubeconfigYaml(s));
}

/** A ServiceAccount's folder (`token`, `ca.crt`, `namespace`, `kubeconfig`); returns the kubeconfig's path. */
export async function writeServiceAccountFolder(dir: string, s: KubeconfigSpec): Promise<string> {
  await writePrivate(join(dir, 'token'), s.token);
  await writePrivate(join(dir, 'ca.crt'), s.caPem);
  await writePrivate(join(dir, 'namespace'), s.namespace);
  const kubeconfig = join(dir, 'kubeconfig');
  await writePrivate(kubeconfig, kubeconfigYaml(s));
  return kubeconfig;
}

async function writePrivate(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}
