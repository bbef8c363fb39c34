// The broker's append-only journal: what makes "accepted" mean "will be delivered" across a
// broker restart. Two record kinds: an accepted event (with the triggers it matched) and a
// completion (one trigger finished with that event: delivered, dead-lettered or given up).
// Frame: u32 LE header length, u32 LE data length, JSON header, raw data bytes.
//
// Durability: records are group-committed (everything appended while one write runs goes out
// in the next single write), and an `append` resolves only once its bytes are in the file, so
// an event the ingress answered 202 survives the broker process dying. Without `fsync` the
// bytes are in the OS page cache, not on disk: an OS crash or power loss may lose the last
// batches. Completions are written the same way but nobody waits for them; losing one only
// means a redelivery (at least once). When nothing is pending the file is truncated; when it
// grows past `compactBytes` it is rewritten with only the live events.
import { open, readFile, rename, type FileHandle } from 'node:fs/promises';
import { z } from 'zod';

export interface AcceptedRecord {
  readonly k: 'a';
  readonly s: number;
  /** Broker name. */
  readonly b: string;
  /** Trigger names still to complete. */
  readonly t: readonly string[];
  /** Reply hops left. */
  readonly ttl: number;
  readonly a: Readonly<Record<string, string>>;
}

export interface CompletedRecord {
  readonly k: 'd';
  readonly s: number;
  readonly t: string;
}

const recordSchema = z.discriminatedUnion('k', [
  z.object({
    k: z.literal('a'),
    s: z.number(),
    b: z.string(),
    t: z.array(z.string()),
    ttl: z.number(),
    a: z.record(z.string(), z.string()),
  }),
  z.object({ k: z.literal('d'), s: z.number(), t: z.string() }),
]);

export interface LiveEvent {
  readonly record: AcceptedRecord;
  readonly data: Uint8Array | undefined;
}

export interface JournalOptions {
  readonly fsync: boolean;
  readonly compactBytes: number;
  /** How many events are still pending; at 0 the file is truncated. */
  readonly pendingCount: () => number;
  /** The events still pending, in order, when the journal rewrites itself. */
  readonly live: () => readonly LiveEvent[];
  readonly onError: (e: Error) => void;
}

const EMPTY = Buffer.alloc(0);

function frame(record: AcceptedRecord | CompletedRecord, data: Uint8Array | undefined): Buffer[] {
  const header = Buffer.from(JSON.stringify(record), 'utf8');
  const lengths = Buffer.allocUnsafe(8);
  lengths.writeUInt32LE(header.byteLength, 0);
  lengths.writeUInt32LE(data?.byteLength ?? 0, 4);
  return data === undefined || data.byteLength === 0
    ? [lengths, header]
    : [lengths, header, Buffer.from(data.buffer, data.byteOffset, data.byteLength)];
}

function parseRecord(header: Buffer): AcceptedRecord | CompletedRecord | undefined {
  let json: unknown;
  try {
    json = JSON.parse(header.toString('utf8'));
  } catch {
    return undefined;
  }
  const parsed = recordSchema.safeParse(json);
  return parsed.success ? parsed.data : undefined;
}

/** Reads a journal into the events that still have triggers to complete, in acceptance order. */
export function replay(bytes: Buffer): { events: LiveEvent[]; lastSeq: number; tornBytes: number } {
  const events = new Map<number, { record: AcceptedRecord; remaining: Set<string>; data: Uint8Array | undefined }>();
  let lastSeq = 0;
  let pos = 0;
  while (pos + 8 <= bytes.byteLength) {
    const headerLength = bytes.readUInt32LE(pos);
    const dataLength = bytes.readUInt32LE(pos + 4);
    const end = pos + 8 + headerLength + dataLength;
    if (end > bytes.byteLength) break;
    const record = parseRecord(bytes.subarray(pos + 8, pos + 8 + headerLength));
    if (record === undefined) break; // a garbled tail: what precedes it is intact, nothing after it is trusted
    if (record.k === 'a') {
      const data = dataLength > 0 ? Buffer.from(bytes.subarray(pos + 8 + headerLength, end)) : undefined;
      events.set(record.s, { record, remaining: new Set(record.t), data });
    } else {
      events.get(record.s)?.remaining.delete(record.t);
    }
    lastSeq = Math.max(lastSeq, record.s);
    pos = end;
  }
  const live: LiveEvent[] = [];
  for (const { record, remaining, data } of [...events.values()].sort((x, y) => x.record.s - y.record.s)) {
    if (remaining.size > 0) live.push({ record: { ...record, t: [...remaining] }, data });
  }
  return { events: live, lastSeq, tornBytes: bytes.byteLength - pos };
}

export class Journal {
  private queue: Buffer[] = [];
  private waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private writing: Promise<void> | undefined;
  private size = 0;
  private closed = false;

  private constructor(
    private readonly path: string,
    private handle: FileHandle,
    private readonly options: JournalOptions,
  ) {}

  /** Opens (creating) the journal at `path` and returns what it held that is still pending. */
  static async open(
    path: string,
    options: JournalOptions,
  ): Promise<{ journal: Journal; pending: LiveEvent[]; lastSeq: number; tornBytes: number }> {
    let bytes: Buffer = EMPTY;
    try {
      bytes = await readFile(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const { events, lastSeq, tornBytes } = replay(bytes);
    const journal = new Journal(path, await open(path, 'a'), options);
    await journal.rewrite(events);
    return { journal, pending: events, lastSeq, tornBytes };
  }

  get bytes(): number {
    return this.size;
  }

  /** Resolves once the record is in the file (in the page cache, or on disk with fsync). */
  append(record: AcceptedRecord, data: Uint8Array | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) {
        reject(new Error('journal is closed'));
        return;
      }
      this.queue.push(...frame(record, data));
      this.waiters.push({ resolve, reject });
      this.kick();
    });
  }

  /** Queues a completion without waiting for it. */
  complete(record: CompletedRecord): void {
    if (this.closed) return;
    this.queue.push(...frame(record, undefined));
    this.kick();
  }

  private kick(): void {
    if (this.writing !== undefined) return;
    this.writing = this.drain().finally(() => {
      this.writing = undefined;
      if (this.queue.length > 0) this.kick();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = Buffer.concat(this.queue);
      const waiters = this.waiters;
      this.queue = [];
      this.waiters = [];
      try {
        await this.writeAll(batch);
        if (this.options.fsync) await this.handle.datasync();
        for (const w of waiters) w.resolve();
      } catch (e) {
        const error = e instanceof Error ? e : new Error(String(e));
        for (const w of waiters) w.reject(error);
        this.options.onError(error);
      }
    }
    await this.maybeCompact();
  }

  private async writeAll(batch: Buffer): Promise<void> {
    let offset = 0;
    while (offset < batch.byteLength) {
      const { bytesWritten } = await this.handle.write(batch, offset, batch.byteLength - offset);
      offset += bytesWritten;
    }
    this.size += batch.byteLength;
  }

  private async maybeCompact(): Promise<void> {
    if (this.closed || this.queue.length > 0 || this.size === 0) return;
    try {
      if (this.options.pendingCount() === 0) {
        await this.handle.truncate(0);
        this.size = 0;
      } else if (this.size > this.options.compactBytes) {
        await this.rewrite(this.options.live());
      }
    } catch (e) {
      this.options.onError(e instanceof Error ? e : new Error(String(e)));
    }
  }

  /** Replaces the file with just `live` (write a temp file, then rename over). */
  private async rewrite(live: readonly LiveEvent[]): Promise<void> {
    const temp = `${this.path}.tmp`;
    const out = await open(temp, 'w');
    let size = 0;
    try {
      const buffers = live.flatMap(({ record, data }) => frame(record, data));
      const all = Buffer.concat(buffers);
      let offset = 0;
      while (offset < all.byteLength) offset += (await out.write(all, offset, all.byteLength - offset)).bytesWritten;
      size = all.byteLength;
      if (this.options.fsync) await out.datasync();
    } finally {
      await out.close();
    }
    await rename(temp, this.path);
    const previous = this.handle;
    this.handle = await open(this.path, 'a');
    this.size = size;
    await previous.close();
  }

  /** Resolves once everything queued (completions included) is written, and any compaction done. */
  async settled(): Promise<void> {
    while (this.writing !== undefined) await this.writing;
  }

  /** Writes what is queued and closes; pending events stay in the file for the next start. */
  async close(): Promise<void> {
    await this.settled();
    this.closed = true;
    await this.handle.close();
  }
}
