// The pretest's decision, for each kind of machine: nothing to do, install with apt-get as root,
// or stop at once with the command a person runs.
import { describe, expect, it } from 'vitest';
import { planTestSetup, type Plan, type Probe } from './pretest-plan.js';

describe('planTestSetup', () => {
  const debianRoot: Probe = { missing: [], root: true, aptGet: true, sudo: false };
  const cases: { name: string; probe: Probe; expected: Plan | ((plan: Plan) => void) }[] = [
    {
      name: 'everything there: nothing to do (no apt-get update either)',
      probe: debianRoot,
      expected: { action: 'ready' },
    },
    {
      name: 'everything there, not root, no apt: still ready',
      probe: { missing: [], root: false, aptGet: false, sudo: false },
      expected: { action: 'ready' },
    },
    {
      name: 'a kubectl too old to render the manifests: stop, whatever else',
      probe: { ...debianRoot, kubectlRenders: false },
      expected: (plan) => {
        expect(plan.action === 'stop' && plan.message).toMatch(
          /kubectl 1\.21 or later.*kubectl kustomize knative\/base/,
        );
      },
    },
    {
      name: 'a kubectl that renders: ready',
      probe: { ...debianRoot, kubectlRenders: true },
      expected: { action: 'ready' },
    },
    {
      name: 'root on Debian, two missing: one update, one install of both',
      probe: { ...debianRoot, missing: ['chromium', 'fashionMnist'] },
      expected: {
        action: 'install',
        packages: ['chromium', 'dataset-fashion-mnist'],
        commands: [
          ['apt-get', 'update', '-qq'],
          ['apt-get', 'install', '-y', '-qq', 'chromium', 'dataset-fashion-mnist'],
        ],
      },
    },
    {
      name: 'root on Debian without kubectl: kubernetes-client',
      probe: { ...debianRoot, missing: ['kubectl'] },
      expected: {
        action: 'install',
        packages: ['kubernetes-client'],
        commands: [
          ['apt-get', 'update', '-qq'],
          ['apt-get', 'install', '-y', '-qq', 'kubernetes-client'],
        ],
      },
    },
    {
      name: 'not root, sudo there: stop with the sudo command',
      probe: { missing: ['fashionMnist'], root: false, aptGet: true, sudo: true },
      expected: (plan) => {
        expect(plan.action).toBe('stop');
        if (plan.action !== 'stop') return;
        expect(plan.message).toContain('Fashion-MNIST (/usr/share/datasets/fashion-mnist)');
        expect(plan.message).toContain('\n  sudo apt-get update && sudo apt-get install -y dataset-fashion-mnist\n');
      },
    },
    {
      name: 'not root, no sudo: stop with the command to run as root',
      probe: { missing: ['chromium', 'kubectl'], root: false, aptGet: true, sudo: false },
      expected: (plan) => {
        expect(plan.action === 'stop' && plan.message).toContain(
          `\n  su -c 'apt-get update && apt-get install -y chromium kubernetes-client'\n`,
        );
      },
    },
    {
      name: 'no apt-get: stop, naming what is missing and where the tests look',
      probe: { missing: ['chromium'], root: true, aptGet: false, sudo: false },
      expected: (plan) => {
        expect(plan.action).toBe('stop');
        expect(plan.action === 'stop' && plan.message).toMatch(
          /Chromium \(\/usr\/bin\/chromium\).*\n.*Debian: chromium/s,
        );
      },
    },
  ];
  it.each(cases)('$name', ({ probe, expected }) => {
    const plan = planTestSetup(probe);
    if (typeof expected === 'function') expected(plan);
    else expect(plan).toEqual(expected);
  });
});
