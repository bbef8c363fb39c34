// The admission's session table: one lease per (client, type). Reserving a slot checks the
// capacity and counts the session in one synchronous step, so concurrent admissions can never
// both take the last slot (nothing awaits between the check and the count).
import type { EdgeType } from './capacity.js';

export interface Session {
  readonly clientId: string;
  readonly type: EdgeType;
  /** When the lease runs out (ms since the epoch) unless renewed. */
  expiresAt: number;
}

export type Reservation =
  | { readonly admitted: true; readonly session: Session; readonly renewed: boolean }
  | { readonly admitted: false; readonly free: 0 };

export class SessionTable {
  private readonly sessions = new Map<string, Session>();

  constructor(
    private readonly leaseMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Admits `clientId` for `type` when fewer than `capacity` sessions of that type are open, or
   * renews its lease when it already holds one (asking again never takes a second slot).
   */
  reserve(clientId: string, type: EdgeType, capacity: number): Reservation {
    const existing = this.sessions.get(key(clientId, type));
    if (existing) {
      existing.expiresAt = this.now() + this.leaseMs;
      return { admitted: true, session: existing, renewed: true };
    }
    if (this.count(type) >= capacity) return { admitted: false, free: 0 };
    const session: Session = { clientId, type, expiresAt: this.now() + this.leaseMs };
    this.sessions.set(key(clientId, type), session);
    return { admitted: true, session, renewed: false };
  }

  /** Extends the lease of the client's sessions (of one type, or all); the sessions renewed. */
  renew(clientId: string, type?: EdgeType): Session[] {
    const renewed = this.matching(clientId, type);
    for (const s of renewed) s.expiresAt = this.now() + this.leaseMs;
    return renewed;
  }

  /** Ends the client's sessions (of one type, or all); the sessions ended. */
  release(clientId: string, type?: EdgeType): Session[] {
    const released = this.matching(clientId, type);
    for (const s of released) this.sessions.delete(key(s.clientId, s.type));
    return released;
  }

  /** Ends every session whose lease ran out; the sessions ended. */
  expire(): Session[] {
    const now = this.now();
    const expired = [...this.sessions.values()].filter((s) => s.expiresAt <= now);
    for (const s of expired) this.sessions.delete(key(s.clientId, s.type));
    return expired;
  }

  /** Open sessions of one type. */
  count(type: EdgeType): number {
    let n = 0;
    for (const s of this.sessions.values()) if (s.type === type) n += 1;
    return n;
  }

  private matching(clientId: string, type?: EdgeType): Session[] {
    return [...this.sessions.values()].filter(
      (s) => s.clientId === clientId && (type === undefined || s.type === type),
    );
  }
}

function key(clientId: string, type: EdgeType): string {
  return `${type}\u0000${clientId}`;
}
