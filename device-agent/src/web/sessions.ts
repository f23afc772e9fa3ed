/**
 * Login sessions, in memory only (a restart logs everyone out). A session is
 * a random 256-bit token sent in an HttpOnly cookie; the store keeps only its
 * SHA-256, so a token cannot be read back out of memory dumps or logs.
 */
import { createHash, randomBytes } from 'node:crypto';

export interface SessionStoreOptions {
  ttlMs: number;
  /** Past this many live sessions the oldest is dropped. */
  maxSessions: number;
  now: () => number;
}

export interface Session {
  token: string;
  expiresAt: number;
}

export class SessionStore {
  readonly #o: SessionStoreOptions;
  /** sha256(token) → expiry; Map order is creation order. */
  readonly #sessions = new Map<string, number>();

  constructor(options: SessionStoreOptions) {
    this.#o = options;
  }

  create(): Session {
    const now = this.#o.now();
    this.#prune(now);
    const token = randomBytes(32).toString('base64url');
    const expiresAt = now + this.#o.ttlMs;
    this.#sessions.set(digest(token), expiresAt);
    while (this.#sessions.size > this.#o.maxSessions) {
      const first = this.#sessions.keys().next();
      if (first.done) break;
      this.#sessions.delete(first.value);
    }
    return { token, expiresAt };
  }

  /** The session's expiry if the token is live, else null. */
  expiryOf(token: string): number | null {
    const key = digest(token);
    const expiresAt = this.#sessions.get(key);
    if (expiresAt === undefined) return null;
    if (expiresAt <= this.#o.now()) {
      this.#sessions.delete(key);
      return null;
    }
    return expiresAt;
  }

  revoke(token: string): void {
    this.#sessions.delete(digest(token));
  }

  clear(): void {
    this.#sessions.clear();
  }

  get size(): number {
    return this.#sessions.size;
  }

  #prune(now: number): void {
    for (const [key, expiresAt] of this.#sessions) if (expiresAt <= now) this.#sessions.delete(key);
  }
}

function digest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
