import { defineConfig } from 'vitest/config';

// `npm run test:reliability`: the fault, duplicate and load suite (test/reliability/), kept out
// of `npm test` so that stays fast. Bounded: each file well under a minute on 2 cores.
export default defineConfig({
  test: {
    include: [
      'test/reliability/**/*.reliability.ts',
      // Each workload's own fault and bad-input cases, which run in `npm test` too.
      'functions/admission/admission.test.ts',
      'functions/admission/app.test.ts',
      'test/system/edge-admission.test.ts',
      'functions/edge-scalar/window.test.ts',
      'functions/edge-scalar/service.test.ts',
      'functions/edge-image/decode.test.ts',
      'functions/edge-image/service.test.ts',
      'functions/split-half/service.test.ts',
      'functions/split-proxy/proxy.test.ts',
      // The layer pipeline: a killed layer fails its step, restarts from its checkpoint, and a
      // restarted controller resumes; repeated backward and apply change nothing twice.
      'functions/layer-controller/controller.test.ts',
      'functions/layer/layer.test.ts',
    ],
    exclude: ['node_modules/**', '.kaskade/**'],
    testTimeout: 120_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // bad-input.reliability.ts collects garbage before each memory sample.
    poolOptions: { forks: { execArgv: ['--expose-gc'] } },
    fileParallelism: false,
    env: { KASKADE_BACKEND: process.env.KASKADE_BACKEND ?? 'wasm' },
  },
});
