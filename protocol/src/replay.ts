/**
 * Remembers message ids for the replay window and refuses a second delivery.
 * Messages older than the window are refused by the skew check before they
 * get here, so an id only needs remembering for as long as its timestamp is fresh.
 */
export class ReplayGuard {
  readonly windowMs: number;
  readonly maxEntries: number;
  // Insertion order ≈ arrival order, so expiry can stop at the first fresh entry.
  readonly #seen = new Map<string, number>();

  constructor(options: { windowMs?: number; maxEntries?: number } = {}) {
    this.windowMs = options.windowMs ?? 5 * 60_000;
    this.maxEntries = options.maxEntries ?? 200_000;
  }

  /** True the first time an id is offered; false for a replay. */
  accept(id: string, ts: number, now = Date.now()): boolean {
    this.#expire(now);
    if (this.#seen.has(id)) return false;
    if (this.#seen.size >= this.maxEntries) {
      // Bounded memory beats unbounded growth under a flood; the oldest ids go first.
      const oldest = this.#seen.keys().next().value;
      if (oldest !== undefined) this.#seen.delete(oldest);
    }
    this.#seen.set(id, Math.max(ts, now) + this.windowMs);
    return true;
  }

  get size(): number {
    return this.#seen.size;
  }

  #expire(now: number): void {
    for (const [id, expiresAt] of this.#seen) {
      if (expiresAt > now) break;
      this.#seen.delete(id);
    }
  }
}
