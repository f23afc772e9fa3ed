/** A declared retry policy: exponential backoff with jitter and a bounded number of attempts. */
export interface RetryPolicy {
  delayMs: number;
  factor: number;
  /** 0..1: the delay is spread uniformly over ±jitter of its nominal value. */
  jitter: number;
  maxAttempts: number;
}

export const DEFAULT_SHARD_RETRY: RetryPolicy = { delayMs: 1_000, factor: 2, jitter: 0.2, maxAttempts: 5 };

/** Delay before attempt `attempt + 1`, after `attempt` (≥ 1) failed attempts. */
export function retryDelay(policy: RetryPolicy, attempt: number, random: () => number = Math.random): number {
  const nominal = policy.delayMs * policy.factor ** Math.max(0, attempt - 1);
  return Math.round(nominal * (1 + policy.jitter * (2 * random() - 1)));
}
