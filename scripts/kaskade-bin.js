#!/usr/bin/env node
// The package's `kaskade` command (package.json "bin"): loads tsx, then runs the CLI's
// TypeScript entry, scripts/kaskade.ts, in this process. `npx kaskade <command>`.
import { register } from 'tsx/esm/api';

register();
await import('./kaskade.ts');
