// kaskade deploy: golden --dry-run plans per tool and overlay (update with UPDATE_GOLDEN=1 after
// reading the diff), every rendered manifest valid against Knative's schemas, kn losing no field
// between the rendered YAML and what it applies, and bad flags exiting 2 with the usage.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { REPO_ROOT } from '../../test/support/fixtures.js';
import { validateManifests } from '../../knative/validate.js';
import { dryRunText, prepareDeploy, type DeployFlags } from './deploy.js';

const GOLDEN = join(REPO_ROOT, 'test', 'fixtures', 'deploy');
const TOOLS = ['kubectl', 'kn', 'gcloud'] as const;
const OVERLAYS = ['gcs', 'nfs', 'gpu'] as const;

const flags = (
  tool: DeployFlags['with'],
  overlay: DeployFlags['overlay'],
  more: Partial<DeployFlags> = {},
): DeployFlags => ({
  with: tool,
  overlay,
  namespace: 'kaskade',
  repository: 'kaskade',
  tag: '0123456789ab',
  waitTimeout: '600s',
  schedule: false,
  dryRun: true,
  ...(tool === 'gcloud'
    ? { cluster: 'ml', location: 'europe-west1', project: 'p1' }
    : { registry: 'registry.example/team' }),
  ...more,
});

const cwd = process.cwd();
const inRepo = <T>(f: () => T): T => {
  process.chdir(REPO_ROOT);
  try {
    return f();
  } finally {
    process.chdir(cwd);
  }
};

describe('kaskade deploy --dry-run', () => {
  const cases = TOOLS.flatMap((tool) => OVERLAYS.map((overlay) => ({ tool, overlay })));
  it.each(cases)(
    '$tool × $overlay matches its golden plan, and every rendered manifest validates',
    ({ tool, overlay }) => {
      const d = inRepo(() => prepareDeploy(flags(tool, overlay)));
      expect(validateManifests(d.resources)).toEqual([]);
      const text = `${dryRunText(d)}\n`;
      const file = join(GOLDEN, `${tool}-${overlay}.txt`);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, text);
      expect(text).toBe(readFileSync(file, 'utf8'));
      // Every image (and the layer controller's LAYER_IMAGE) is the commit's, in the chosen registry: nothing rendered names the shipped one.
      expect(stringify(d.resources)).not.toMatch(/ghcr\.io/);
      expect(stringify(d.resources)).toMatch(/\/kaskade:0123456789ab\b/);
    },
  );

  it.each(TOOLS)(
    '%s builds exactly the images the rendered services run, the GPU variant for the gpu overlay',
    (tool) => {
      for (const overlay of OVERLAYS) {
        const d = inRepo(() => prepareDeploy(flags(tool, overlay)));
        const built = new Map<string, string>();
        for (const c of d.plan) {
          if (c[0] === 'docker' && c[1] === 'build')
            built.set(c[c.indexOf('-t') + 1] ?? '', c[c.indexOf('--target') + 1] ?? '');
          const subs = c[0] === 'gcloud' && c[1] === 'builds' ? c[c.indexOf('--substitutions') + 1] : undefined;
          if (subs) {
            const kv = Object.fromEntries(subs.split(',').map((p) => p.split('=') as [string, string]));
            built.set(kv._IMAGE ?? '', kv._VARIANT ?? '');
          }
        }
        const running = new Map<string, string>();
        for (const r of d.resources.filter(
          (x) => x.kind === 'Service' && x.apiVersion.startsWith('serving.knative.dev/'),
        )) {
          const image = (r.spec as { template: { spec: { containers: Array<{ image: string }> } } }).template.spec
            .containers[0]?.image;
          if (image) running.set(r.metadata.name, image);
        }
        expect(new Set(running.values()), overlay).toEqual(new Set(built.keys()));
        const trainer = running.get('shard-trainer') ?? '';
        expect(built.get(trainer), overlay).toBe(overlay === 'gpu' ? 'gpu' : 'cpu');
        expect(trainer.endsWith(overlay === 'gpu' ? '/kaskade-gpu:0123456789ab' : '/kaskade:0123456789ab')).toBe(true);
        for (const [name, image] of running) if (name !== 'shard-trainer') expect(built.get(image), name).toBe('cpu');
      }
    },
  );

  it('kn loses no field: the files its commands apply hold exactly the rendered resources, each once', () => {
    for (const overlay of OVERLAYS) {
      for (const schedule of [false, true]) {
        const d = inRepo(() => prepareDeploy(flags('kn', overlay, { schedule })));
        const applied = new Map<string, unknown[]>();
        for (const f of d.files)
          applied.set(
            f.path,
            parseAllDocuments(f.resources.map((r) => stringify(r)).join('---\n')).map((doc) => doc.toJS() as unknown),
          );
        // Each file is named by exactly one command, and a kn service command names a file holding exactly that service.
        for (const path of applied.keys())
          expect(
            d.plan.filter((c) => c.includes(path)),
            path,
          ).toHaveLength(1);
        for (const cmd of d.plan.filter((c) => c[0] === 'kn')) {
          const file = cmd[cmd.indexOf('--filename') + 1] ?? '';
          const held = (applied.get(file) ?? []) as Array<{ kind?: string; metadata?: { name?: string } }>;
          expect(held.map((r) => `${r.kind ?? ''}/${r.metadata?.name ?? ''}`)).toEqual([`Service/${cmd[3] ?? ''}`]);
          expect(cmd.filter((a) => a.startsWith('--')).sort()).toEqual(['--filename', '--force', '--namespace']);
        }
        // Field by field: what reaches the cluster deep-equals what kustomize rendered (plus the schedule's PingSource).
        const expected = d.resources.map((r) => parse(stringify(r)) as unknown);
        const all = [...applied.values()].flat();
        const pings = all.filter((r) => (r as { kind?: string }).kind === 'PingSource');
        expect(pings).toHaveLength(schedule ? 1 : 0);
        expect(all.filter((r) => !pings.includes(r))).toEqual(expect.arrayContaining(expected));
        expect(all.length - pings.length).toBe(expected.length);
      }
    }
  });
});

describe('kaskade deploy: bad flags', () => {
  const run = (args: string[]): { code: number | null; stderr: string } => {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(REPO_ROOT, 'scripts', 'kaskade.ts'), 'deploy', ...args],
      { cwd: REPO_ROOT, encoding: 'utf8', timeout: 60_000 },
    );
    return { code: r.status, stderr: r.stderr };
  };
  it.each([
    { args: ['--overlay', 'bogus', '--registry', 'r.example', '--dry-run'], says: /argument 'bogus' is invalid/ },
    { args: ['--with', 'kubectl', '--dry-run'], says: /--with kubectl needs --registry/ },
    {
      args: ['--with', 'gcloud', '--cluster', 'ml', '--location', 'europe-west1', '--dry-run'],
      says: /--with gcloud needs --project/,
    },
    { args: ['--with', 'docker', '--dry-run'], says: /argument 'docker' is invalid/ },
  ])('$args exits 2 and prints the usage', ({ args, says }) => {
    const r = run(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(says);
    expect(r.stderr).toMatch(/Usage: kaskade deploy \[options\]/);
  });
});
