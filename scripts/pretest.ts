// `npm test`'s pretest: makes sure the machine has what the tests need beyond npm packages
// (scripts/pretest-plan.ts says what and why). Quiet and quick when everything is there; as
// root with apt-get it installs what is missing; otherwise it stops at once with the command
// to run.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join, resolve } from 'node:path';
import { planTestSetup, REQUIREMENTS, type Probe, type RequirementId } from './pretest-plan.js';

const ROOT = resolve(import.meta.dirname, '..');

function onPath(command: string): boolean {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return true;
    } catch {
      // not in this folder
    }
  }
  return false;
}

function probe(): Probe {
  const present: Record<RequirementId, boolean> = {
    chromium: existsSync(REQUIREMENTS.chromium.where),
    fashionMnist: existsSync(REQUIREMENTS.fashionMnist.where),
    kubectl: onPath('kubectl'),
  };
  const missing = (Object.keys(present) as RequirementId[]).filter((id) => !present[id]);
  const kubectlRenders = present.kubectl
    ? spawnSync('kubectl', ['kustomize', join(ROOT, 'knative', 'base')], { stdio: 'ignore', timeout: 30_000 })
        .status === 0
    : undefined;
  return {
    missing,
    root: process.getuid?.() === 0,
    aptGet: onPath('apt-get'),
    sudo: onPath('sudo'),
    ...(kubectlRenders === undefined ? {} : { kubectlRenders }),
  };
}

function stop(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

let plan = planTestSetup(probe());
if (plan.action === 'install') {
  process.stderr.write(`pretest: installing ${plan.packages.join(', ')} for the tests (apt-get)\n`);
  for (const [program, ...args] of plan.commands) {
    if (program === undefined) continue;
    const r = spawnSync(program, args, {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
    if (r.status !== 0)
      stop(`pretest: ${program} ${args.join(' ')} failed (${r.error?.message ?? `exit ${r.status}`})`);
  }
  plan = planTestSetup(probe());
  if (plan.action === 'install') stop(`pretest: still missing after apt-get: ${plan.packages.join(', ')}`);
}
if (plan.action === 'stop') stop(plan.message);
