/**
 * Reconnect backoff: exponential with a cap and "equal jitter" (half the
 * delay fixed, half random), so a fleet that lost its broker at the same
 * moment does not come back at the same moment.
 */
export interface BackoffPolicy {
  initialMs: number;
  factor: number;
  maxMs: number;
}

export const DEFAULT_RECONNECT_BACKOFF: BackoffPolicy = { initialMs: 1_000, factor: 2, maxMs: 60_000 };

/** Delay before reconnect attempt `attempt` (1-based). */
export function backoffDelay(policy: BackoffPolicy, attempt: number, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.maxMs, policy.initialMs * policy.factor ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
