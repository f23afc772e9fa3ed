/** Time for the LED driver; replaceable so tests can drive it by hand. */
export interface LedClock {
  /** ms since epoch; the same clock as `AgentStatus.now`. */
  now(): number;
  /** Calls `fn` once after `ms`; returns a function that cancels it. */
  schedule(fn: () => void, ms: number): () => void;
}

/**
 * The real clock. Looks the timer functions up at call time (so node:test's
 * mock timers apply) and unrefs them: a blinking LED alone does not keep the
 * process alive.
 */
export const systemClock: LedClock = {
  now: () => Date.now(),
  schedule(fn, ms) {
    const timer = globalThis.setTimeout(fn, ms);
    timer.unref();
    return () => globalThis.clearTimeout(timer);
  },
};
