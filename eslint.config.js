// Lint rules that keep Kaskade honest: no floating promises, type-only imports marked as such,
// no function folder importing another function (shared code lives in functions/_shared or
// events/), imports that point one way through the layers, and no import cycles.
import js from '@eslint/js';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const functionNames = readdirSync(fileURLToPath(new globalThis.URL('./functions/', import.meta.url)), {
  withFileTypes: true,
})
  .filter((d) => d.isDirectory() && d.name !== '_shared')
  .map((d) => d.name);

/** Forbids imports (relative, or through a functions/ path) that reach one of `forbidden`. */
function importBoundary(files, forbidden, message) {
  const names = forbidden.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return {
    files: [files],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { regex: `^(\\.\\./)+(${names})(/|$)`, message },
            { regex: `(^|/)functions/(${names})(/|$)`, message },
          ],
        },
      ],
    },
  };
}

/**
 * The layers, lowest first: each may import only the ones before it. Tests (`*.test.ts` and
 * everything under test/) may import anything; shipping code never imports test/.
 */
const LAYERS = [
  { name: 'functions/_shared', from: ['./functions/_shared'] },
  { name: 'events', from: ['./events'] },
  { name: 'functions', from: ['./functions'] },
  { name: 'knative', from: ['./knative'] },
  { name: 'scripts', from: ['./scripts'] },
];
const layerZones = LAYERS.flatMap((layer, i) =>
  LAYERS.slice(i + 1).map((above) => ({
    target: layer.from[0],
    from: above.from[0],
    // functions/ holds functions/_shared, the layer below events/: only the rest is above.
    ...(above.name === 'functions' ? { except: ['./_shared'] } : {}),
    message: `${layer.name} is below ${above.name}: it must not import it (layers: ${LAYERS.map((l) => l.name).join(' → ')}).`,
  })),
).filter((z) => !(z.target === './functions' && z.from === './functions'));
const testZones = ['./functions', './events', './knative'].map((target) => ({
  target,
  from: './test',
  message: 'Shipping code (functions, events, knative) must not import test helpers; move what it needs out of test/.',
}));

/** Where a module name appears: a static import, a dynamic import, a require. */
const SOURCES = [
  'ImportDeclaration > Literal.source',
  'ImportExpression > Literal.source',
  'CallExpression[callee.name="require"] > Literal',
];
/** Syntax that runs code from data: `vm`, pickle readers, shell execution, Function by another name. */
const CODE_EXECUTION = [
  ...SOURCES.flatMap((node) => [
    { selector: `${node}[value=/^(node:)?vm$/]`, message: 'No `vm`: Kaskade never runs code it is given.' },
    { selector: `${node}[value=/pickle/i]`, message: 'No pickle: tensors are safetensors, models ONNX or TF.js JSON.' },
  ]),
  {
    selector: 'ImportSpecifier[imported.name=/^(exec|execSync)$/]',
    message: 'No shell: spawn or execFile with an argument list.',
  },
  {
    selector: 'MemberExpression[property.name=/^(runInContext|runInNewContext|runInThisContext|compileFunction)$/]',
    message: 'No `vm`-style evaluation.',
  },
  {
    selector: 'CallExpression[callee.type="MemberExpression"][callee.property.name="constructor"]',
    message: 'No Function constructor by another name.',
  },
];

export default tseslint.config(
  { ignores: ['node_modules/**', '.kaskade/**', 'coverage/**', '**/*.js', '!eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  {
    files: ['**/*.ts'],
    plugins: { 'import-x': importX },
    settings: {
      'import-x/extensions': ['.ts', '.js'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      'import-x/resolver-next': [
        createNodeResolver({ extensions: ['.ts', '.js', '.json'], extensionAlias: { '.js': ['.ts', '.js'] } }),
      ],
    },
    rules: { 'import-x/no-cycle': ['error', { ignoreExternal: true }] },
  },
  {
    files: ['**/*.ts'],
    ignores: ['**/*.test.ts', 'test/**'],
    plugins: { 'import-x': importX },
    rules: { 'import-x/no-restricted-paths': ['error', { zones: [...layerZones, ...testZones] }] },
  },
  // Library code throws the typed errors of functions/_shared/errors.ts, never a plain Error.
  // (The predictor's page script runs in the browser, where errors.ts does not go.)
  // Nothing that ships executes what it is given: no eval, no Function constructor, no strings as
  // timer code, no `vm`, no pickle readers, and no child processes in functions/ or events/ (the
  // local runtime spawns its workers and kubectl with argument lists, never through a shell).
  {
    files: ['functions/**/*.ts', 'events/**/*.ts', 'knative/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-eval': 'error',
      'no-new-func': 'error',
      'no-implied-eval': 'error',
      'no-restricted-syntax': ['error', ...CODE_EXECUTION],
    },
  },
  {
    files: ['functions/**/*.ts', 'events/**/*.ts', 'knative/**/*.ts'],
    ignores: ['**/*.test.ts', 'functions/predictor/page/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ThrowStatement > NewExpression[callee.name="Error"]',
          message: 'Throw a typed error from functions/_shared/errors.ts (add a class there if none fits).',
        },
        ...CODE_EXECUTION,
      ],
    },
  },
  {
    files: ['functions/**/*.ts', 'events/**/*.ts'],
    ignores: ['**/*.test.ts', 'functions/predictor/page/**'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: 'ThrowStatement > NewExpression[callee.name="Error"]',
          message: 'Throw a typed error from functions/_shared/errors.ts (add a class there if none fits).',
        },
        ...CODE_EXECUTION,
        ...SOURCES.map((node) => ({
          selector: `${node}[value=/^(node:)?child_process$/]`,
          message: 'Functions and events start no processes: input must never reach a command line.',
        })),
      ],
    },
  },
  // A function folder may import functions/_shared and events/, never another function, and
  // shared code imports no function: the rule is made per folder from the function names.
  ...functionNames.map((self) =>
    importBoundary(
      `functions/${self}/**/*.ts`,
      functionNames.filter((n) => n !== self),
      'A function must not import another function; move shared code to functions/_shared/ or events/.',
    ),
  ),
  importBoundary('functions/_shared/**/*.ts', functionNames, 'Shared code must not import a function.'),
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
