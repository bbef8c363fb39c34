// What `npm test` needs from the machine beyond npm packages, and what to do when some is
// missing: install it (as root, with apt-get), or stop at once with the one command to run.
// Pure: the probe of the machine is passed in, so the decision is table-tested.

export interface Requirement {
  /** What is missing, as a person reads it. */
  name: string;
  /** The Debian package that provides it. */
  debianPackage: string;
  /** Where the tests look for it. */
  where: string;
  /** Which tests need it. */
  neededBy: string;
}

export const REQUIREMENTS = {
  chromium: {
    name: 'Chromium',
    debianPackage: 'chromium',
    where: '/usr/bin/chromium',
    neededBy: "the predictor page's browser test",
  },
  fashionMnist: {
    name: 'Fashion-MNIST',
    debianPackage: 'dataset-fashion-mnist',
    where: '/usr/share/datasets/fashion-mnist',
    neededBy: "the fashion-mnist:debian dataset's test",
  },
  kubectl: {
    name: 'kubectl',
    debianPackage: 'kubernetes-client',
    where: 'kubectl on PATH',
    neededBy: '`kubectl kustomize` of the manifests (knative/)',
  },
} as const satisfies Record<string, Requirement>;

export type RequirementId = keyof typeof REQUIREMENTS;

/** What the machine has, as the entry point finds it. */
export interface Probe {
  /** Requirements that are not there. */
  missing: readonly RequirementId[];
  /** Running as root (uid 0). */
  root: boolean;
  /** apt-get is on PATH (a Debian-like system). */
  aptGet: boolean;
  /** sudo is on PATH. */
  sudo: boolean;
  /**
   * Whether the kubectl there renders the manifests (`kubectl kustomize knative/base`): false
   * for a kubectl whose built-in kustomize predates `labels`, `patches` and components
   * (before 1.21; Debian 12's kubernetes-client is 1.20). Undefined when not checked.
   */
  kubectlRenders?: boolean;
}

export type Command = readonly string[];

export type Plan =
  | { action: 'ready' }
  | { action: 'install'; packages: string[]; commands: Command[] }
  | { action: 'stop'; message: string };

function described(ids: readonly RequirementId[]): string {
  return ids
    .map((id) => `  ${REQUIREMENTS[id].name} (${REQUIREMENTS[id].where}), for ${REQUIREMENTS[id].neededBy}`)
    .join('\n');
}

/** The apt-get commands that install `packages` (the package lists are refreshed first). */
export function aptCommands(packages: readonly string[]): Command[] {
  return [
    ['apt-get', 'update', '-qq'],
    ['apt-get', 'install', '-y', '-qq', ...packages],
  ];
}

export function planTestSetup(probe: Probe): Plan {
  if (probe.missing.length === 0 && probe.kubectlRenders === false) {
    return {
      action: 'stop',
      message:
        'npm test needs a kubectl whose kustomize renders knative/ (kubectl 1.21 or later: the manifests use `labels`, `patches` and components); the kubectl on PATH fails `kubectl kustomize knative/base`. Put a newer kubectl first on PATH, then run npm test again.',
    };
  }
  if (probe.missing.length === 0) return { action: 'ready' };
  const packages = probe.missing.map((id) => REQUIREMENTS[id].debianPackage);
  if (probe.aptGet && probe.root) return { action: 'install', packages, commands: aptCommands(packages) };
  const head = `npm test needs what this machine lacks:\n${described(probe.missing)}\n`;
  if (probe.aptGet) {
    const line = aptCommands(packages).map((c) => c.filter((a) => a !== '-qq').join(' '));
    const command = probe.sudo ? line.map((c) => `sudo ${c}`).join(' && ') : `su -c '${line.join(' && ')}'`;
    return { action: 'stop', message: `${head}Install it with:\n  ${command}\nthen run npm test again.` };
  }
  return {
    action: 'stop',
    message: `${head}Install it with your system's package manager (Debian: ${packages.join(' ')}), then run npm test again.`,
  };
}
