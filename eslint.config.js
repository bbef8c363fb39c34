// Lint rules that keep Kaskade honest: no floating promises, type-only imports marked as such,
// and no function folder importing another function (shared code lives in functions/_shared or events/).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const functionNames = readdirSync(fileURLToPath(new globalThis.URL('./functions/', import.meta.url)), { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== '_shared')
  .map((d) => d.name);

/** Forbids imports (relative, or through a functions/ path) that reach one of `forbidden`. */
function importBoundary(files, forbidden, message) {
  const names = forbidden.map((n) => n.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|');
  return {
    files: [files],
    rules: {
      'no-restricted-imports': ['error', { patterns: [
        { regex: `^(\\.\\./)+(${names})(/|$)`, message },
        { regex: `(^|/)functions/(${names})(/|$)`, message },
      ] }],
    },
  };
}


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
  // A function folder may import functions/_shared and events/, never another function, and
  // shared code imports no function: the rule is made per folder from the function names.
  ...functionNames.map((self) => importBoundary(`functions/${self}/**/*.ts`, functionNames.filter((n) => n !== self), 'A function must not import another function; move shared code to functions/_shared/ or events/.')),
  importBoundary('functions/_shared/**/*.ts', functionNames, 'Shared code must not import a function.'),
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
