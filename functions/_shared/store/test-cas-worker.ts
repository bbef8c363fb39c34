// A separate process for the file store's cross-process pointer tests (run by file-store.test.ts
// with `node --import tsx`): argv = root URL, pointer URL, mode, worker id, count, start time.
//   race:      one swap from "v0" to "w<id>" at the start time; prints "won" or "lost".
//   increment: `count` read-then-swap increments of a decimal counter, retrying lost races.
import { ConflictError } from '../errors.js';
import { FileStore } from './file-store.js';

async function main(argv: string[]): Promise<void> {
  const [root = '', pointer = '', mode = '', id = '', count = '0', startAt = '0'] = argv;
  const store = new FileStore([root], { lockTimeoutMs: 30_000 });
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
  if (mode === 'race') {
    try {
      await store.swapPointer(pointer, 'v0', `w${id}`);
      process.stdout.write('won\n');
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
      process.stdout.write('lost\n');
    }
    return;
  }
  for (let done = 0; done < Number(count); ) {
    const current = new TextDecoder().decode(await store.read(pointer));
    try {
      await store.swapPointer(pointer, current, String(Number(current) + 1));
      done++;
    } catch (e) {
      if (!(e instanceof ConflictError)) throw e;
    }
  }
}

await main(process.argv.slice(2));
