import { defineConfig } from 'vitest/config';

// Tests run on the wasm rung of the backend ladder unless KASKADE_BACKEND says otherwise.
export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', '.kaskade/**'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    env: { KASKADE_BACKEND: process.env.KASKADE_BACKEND ?? 'wasm' },
  },
});
