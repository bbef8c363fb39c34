// Lint rules that keep Kaskade honest: no floating promises, type-only imports marked as such,
// and no function folder importing another function (shared code lives in functions/_shared or events/).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';


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
  // A function folder may import functions/_shared and events/, never a sibling function.
  {
    files: ['functions/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^\\.\\./(?!_shared(/|$)|\\.\\.(/|$))[^/]+`,
              message: 'A function must not import another function; move shared code to functions/_shared/ or events/.',
            },
            {
              regex: `(^|/)functions/(?!_shared(/|$))`,
              message: 'A function must not import another function; move shared code to functions/_shared/ or events/.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['functions/_shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              regex: `^\\.\\./\\.\\./(?!_shared|\\.\\.)[^/]+/`,
              message: 'Shared code must not import a function.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['eslint.config.js'],
    ...tseslint.configs.disableTypeChecked,
  },
);
