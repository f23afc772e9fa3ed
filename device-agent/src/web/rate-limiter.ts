/**
 * Sliding-window attempt limiter: at most `limit` hits per key in any
 * `windowMs`. Pure bookkeeping over timestamps the caller passes in, so
 * tests drive it with a fake clock. Memory is bounded: past `maxKeys` the
 * least recently hit key is forgotten.
 */
import { WebError } from './errors.ts';

export interface RateLimit {
  limit: number;
  windowMs: number;
}

export type LimitDecision = { allowed: true; remaining: number } | { allowed: false; retryAt: number };

export class SlidingWindowLimiter {
  readonly limit: number;
  readonly windowMs: number;
  readonly #maxKeys: number;
  /** Per key, hit times oldest first; Map order is least recently hit first. */
  readonly #hits = new Map<string, number[]>();

  constructor(rate: RateLimit, maxKeys = 4096) {
    if (!Number.isInteger(rate.limit) || rate.limit < 1 || !Number.isFinite(rate.windowMs) || rate.windowMs <= 0) {
      throw new WebError('bad rate limit', {
        code: 'invalid-config',
        details: `limit must be a positive integer and windowMs above 0, got ${rate.limit} per ${rate.windowMs} ms`,
      });
    }
    this.limit = rate.limit;
    this.windowMs = rate.windowMs;
    this.#maxKeys = maxKeys;
  }

  /** Whether one more hit would be allowed now; does not count one. */
  check(key: string, now: number): LimitDecision {
    const hits = this.#recent(key, now);
    if (hits.length < this.limit) return { allowed: true, remaining: this.limit - hits.length };
    // The window slides past the oldest hit that keeps the key at its limit.
    const oldest = hits[hits.length - this.limit] ?? now;
    return { allowed: false, retryAt: oldest + this.windowMs };
  }

  hit(key: string, now: number): void {
    const hits = this.#recent(key, now);
    hits.push(now);
    if (hits.length > this.limit) hits.splice(0, hits.length - this.limit);
    this.#hits.delete(key);
    this.#hits.set(key, hits);
    if (this.#hits.size > this.#maxKeys) {
      const first = this.#hits.keys().next();
      if (!first.done) this.#hits.delete(first.value);
    }
  }

  reset(key: string): void {
    this.#hits.delete(key);
  }

  get size(): number {
    return this.#hits.size;
  }

  #recent(key: string, now: number): number[] {
    const hits = this.#hits.get(key);
    if (!hits) return [];
    const from = now - this.windowMs;
    let drop = 0;
    while (drop < hits.length && (hits[drop] ?? 0) <= from) drop++;
    if (drop > 0) hits.splice(0, drop);
    if (hits.length === 0) this.#hits.delete(key);
    return hits;
  }
}
