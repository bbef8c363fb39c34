// No code-executing formats on any input path: the lint rules that forbid eval, the Function
// constructor, string timers, `vm`, pickle readers, shells, and (in functions/ and events/) child
// processes are on for shipping code in eslint.config.js, so `npm test`'s lint enforces them. This
// test proves both halves: the project's own configuration turns them on for every production
// folder, they catch each forbidden form, and no production file has one.
import { join } from 'node:path';
import { ESLint, type Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { beforeAll, describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const RULES = ['no-eval', 'no-new-func', 'no-implied-eval', 'no-restricted-syntax'] as const;

/** The scan rules as eslint.config.js configures them for `file`, run without type information (fast). */
async function scannerFor(file: string, ignores: string[] = []): Promise<ESLint> {
  const config = (await new ESLint({ cwd: ROOT }).calculateConfigForFile(file)) as { rules?: Linter.RulesRecord };
  const rules: Linter.RulesRecord = {};
  for (const name of RULES) {
    const setting = config.rules?.[name];
    const severity = Array.isArray(setting) ? setting[0] : setting;
    expect([2, 'error'], `${name} for ${file}`).toContain(severity);
    if (setting !== undefined) rules[name] = setting;
  }
  return new ESLint({
    cwd: ROOT,
    overrideConfigFile: true,
    overrideConfig: [
      { ignores: ['**/*.test.ts', 'node_modules/**', ...ignores] },
      {
        files: ['**/*.ts'],
        // Without type information, no-implied-eval knows the timers as globals (the project's
        // typed @typescript-eslint/no-implied-eval needs none).
        languageOptions: { parser: tseslint.parser, globals: { setTimeout: 'readonly', setInterval: 'readonly' } },
        rules,
      },
    ],
  });
}

const FORBIDDEN_EVERYWHERE = [
  { name: 'eval', code: 'export const f = (s: string): unknown => eval(s);' },
  { name: 'new Function', code: "export const f = (s: string): unknown => new Function('x', s);" },
  { name: 'Function()', code: 'export const f = (s: string): unknown => Function(s)();' },
  { name: 'a string timer', code: "export const f = (s: string): void => void setTimeout('run(' + s + ')', 1);" },
  { name: 'Function by its constructor', code: 'export const f = (s: string): unknown => (() => 0).constructor(s);' },
  {
    name: 'node:vm',
    code: "import { runInNewContext } from 'node:vm';\nexport const f = (s: string): unknown => runInNewContext(s);",
  },
  { name: 'vm by require', code: "export const f = (): unknown => require('vm');" },
  { name: 'vm imported later', code: "export const f = async (): Promise<unknown> => import('node:vm');" },
  {
    name: 'a vm-style call',
    code: 'export const f = (c: { runInThisContext(s: string): unknown }, s: string): unknown => c.runInThisContext(s);',
  },
  { name: 'a pickle reader', code: "import { Parser } from 'pickleparser';\nexport const p = new Parser();" },
  {
    name: 'a shell',
    code: "import { execSync } from 'node:child_process';\nexport const f = (s: string): unknown => execSync(s);",
  },
];

const FORBIDDEN_IN_FUNCTIONS = [
  {
    name: 'spawn',
    code: "import { spawn } from 'node:child_process';\nexport const f = (s: string): unknown => spawn(s);",
  },
  { name: 'child_process by require', code: "export const f = (): unknown => require('child_process');" },
];

describe('the code-execution scan', () => {
  let functionsScan: ESLint;
  let eventsScan: ESLint;
  let knativeScan: ESLint;
  let pageScan: ESLint;

  beforeAll(async () => {
    // The predictor's page script runs in the browser (its own throw rule); it is scanned on its own.
    functionsScan = await scannerFor('functions/predictor/service.ts', ['functions/predictor/page/**']);
    pageScan = await scannerFor('functions/predictor/page/main.ts');
    eventsScan = await scannerFor('events/broker/ingress.ts');
    knativeScan = await scannerFor('knative/runtime/ingress.ts');
  });

  const errorsOf = async (scan: ESLint, code: string, filePath: string): Promise<string[]> => {
    const [result] = await scan.lintText(code, { filePath: join(ROOT, filePath) });
    return (result?.messages ?? []).filter((m) => m.severity === 2).map((m) => m.ruleId ?? m.message);
  };

  it.each(FORBIDDEN_EVERYWHERE)('catches $name in functions/, events/ and knative/', async ({ code }) => {
    expect(await errorsOf(functionsScan, code, 'functions/splitter/probe.ts')).not.toEqual([]);
    expect(await errorsOf(eventsScan, code, 'events/probe.ts')).not.toEqual([]);
    expect(await errorsOf(knativeScan, code, 'knative/runtime/probe.ts')).not.toEqual([]);
    expect(await errorsOf(pageScan, code, 'functions/predictor/page/probe.ts')).not.toEqual([]);
  });

  it.each(FORBIDDEN_IN_FUNCTIONS)('catches $name in functions/ and events/', async ({ code }) => {
    expect(await errorsOf(functionsScan, code, 'functions/splitter/probe.ts')).not.toEqual([]);
    expect(await errorsOf(eventsScan, code, 'events/probe.ts')).not.toEqual([]);
  });

  it('lets ordinary code through (no rule fires on JSON.parse, spawn in the runtime, timers with functions)', async () => {
    const fine = 'export const f = (s: string): unknown => JSON.parse(s);\nsetTimeout(() => undefined, 1);';
    expect(await errorsOf(functionsScan, fine, 'functions/splitter/probe.ts')).toEqual([]);
    const runtime =
      "import { spawn } from 'node:child_process';\nexport const f = (): unknown => spawn('node', ['x']);";
    expect(await errorsOf(knativeScan, runtime, 'knative/runtime/probe.ts')).toEqual([]);
  });

  it('finds none in any production file', async () => {
    const found: string[] = [];
    for (const [scan, folder] of [
      [functionsScan, 'functions'],
      [eventsScan, 'events'],
      [knativeScan, 'knative'],
      [pageScan, 'functions/predictor/page'],
    ] as const) {
      const results = await scan.lintFiles([join(ROOT, folder, '**', '*.ts')]);
      expect(results.length).toBeGreaterThan(1);
      for (const r of results)
        for (const m of r.messages) if (m.severity === 2) found.push(`${r.filePath}:${m.line} ${m.message}`);
    }
    expect(found).toEqual([]);
  });
});
