// Bearer tokens: one for the runtime's admin and one per ServiceAccount a worker runs as, random,
// kept in the state folder so kubeconfigs written earlier keep working after a restart.
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { adminIdentity, serviceAccountIdentity, type Identity } from './rbac.js';

export class TokenBook {
  private readonly byToken = new Map<string, Identity>();
  private readonly byUser = new Map<string, string>();
  private saving: Promise<void> = Promise.resolve();

  private constructor(private readonly file: string) {}

  static async open(file: string): Promise<TokenBook> {
    const book = new TokenBook(file);
    const text = await readFile(file, 'utf8').catch(() => '{}');
    const saved = JSON.parse(text) as Record<string, Identity>;
    for (const [token, who] of Object.entries(saved)) book.remember(token, who);
    return book;
  }

  /** The identity a bearer token stands for, if any. */
  identify(token: string): Identity | undefined {
    return this.byToken.get(token);
  }

  async admin(): Promise<string> {
    return this.tokenFor(adminIdentity());
  }

  async serviceAccount(namespace: string, name: string): Promise<string> {
    return this.tokenFor(serviceAccountIdentity(namespace, name));
  }

  private async tokenFor(who: Identity): Promise<string> {
    const known = this.byUser.get(who.user);
    if (known !== undefined) return known;
    const token = randomBytes(24).toString('base64url');
    this.remember(token, who);
    const snapshot = JSON.stringify(Object.fromEntries(this.byToken));
    const write = this.saving.then(async () => {
      await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
      await writeFile(`${this.file}.tmp`, snapshot, { mode: 0o600 });
      await rename(`${this.file}.tmp`, this.file);
    });
    this.saving = write.catch(() => undefined);
    await write;
    return token;
  }

  private remember(token: string, who: Identity): void {
    this.byToken.set(token, who);
    this.byUser.set(who.user, token);
  }
}
