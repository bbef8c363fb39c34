// `kaskade <command>`: the project's command line. Each command is a module in
// scripts/commands/ exporting `register(program)`; add one there and list it below.
import { Command, CommanderError } from 'commander';
import { isKaskadeError } from '../functions/_shared/errors.js';
import { register as autoscaleLab } from './commands/autoscale-lab.js';
import { register as collect } from './commands/collect.js';
import { register as deploy } from './commands/deploy.js';
import { register as edgeClient } from './commands/edge-client.js';
import { register as edgeTrain } from './commands/edge-train.js';
import { register as schedule } from './commands/schedule.js';
import { register as send } from './commands/send.js';
import { register as status } from './commands/status.js';
import { register as train } from './commands/train.js';
import { register as split } from './commands/split.js';
import { register as up } from './commands/up.js';

const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  up,
  status,
  send,
  train,
  deploy,
  schedule,
  split,
  collect,
  autoscaleLab,
  edgeClient,
  edgeTrain,
];

// Commander has printed the error and the usage by the time it throws: bad flags exit 2.
const program = new Command('kaskade')
  .description('Deep-learning training and serving as scale-to-zero Knative services')
  .showHelpAfterError()
  .exitOverride();
for (const register of COMMANDS) register(program);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
  process.stderr.write(`kaskade: ${isKaskadeError(e) ? e.message : ((e as Error).stack ?? String(e))}\n`);
  process.exit(1);
}
