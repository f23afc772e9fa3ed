/**
 * Blink patterns: a cyclic list of steps, each holding the LED on or off for
 * a number of milliseconds. Pure functions over them, no timers.
 */
import { LedError } from './errors.ts';

export interface LedStep {
  readonly on: boolean;
  readonly ms: number;
}

export type LedPattern = readonly LedStep[];

export function assertPattern(pattern: LedPattern): void {
  if (pattern.length === 0) {
    throw new LedError('LED pattern is empty', { code: 'invalid-pattern', details: 'give at least one step' });
  }
  for (const [i, step] of pattern.entries()) {
    if (!Number.isFinite(step.ms) || step.ms <= 0) {
      throw new LedError(`LED pattern step ${i} has a bad duration`, {
        code: 'invalid-pattern',
        details: `ms must be a finite number above 0, got ${step.ms}`,
      });
    }
  }
}

/** The length of one cycle in ms. */
export function patternPeriod(pattern: LedPattern): number {
  assertPattern(pattern);
  return pattern.reduce((sum, step) => sum + step.ms, 0);
}

/** True when the pattern never changes level (solid on or solid off). */
export function isSteady(pattern: LedPattern): boolean {
  assertPattern(pattern);
  return pattern.every((step) => step.on === pattern[0]?.on);
}

interface Position {
  index: number;
  /** ms left in the step at `index`. */
  remaining: number;
}

function positionAt(pattern: LedPattern, elapsedMs: number): Position {
  if (!Number.isFinite(elapsedMs)) {
    throw new LedError('elapsed time is not a finite number', {
      code: 'invalid-pattern',
      details: `got ${elapsedMs}`,
    });
  }
  const period = patternPeriod(pattern);
  // Steps are half-open [start, end): at a boundary the next step shows.
  // The pattern repeats in both directions, so a clock stepping back is harmless.
  let t = ((elapsedMs % period) + period) % period;
  for (const [index, step] of pattern.entries()) {
    if (t < step.ms) return { index, remaining: step.ms - t };
    t -= step.ms;
  }
  // Only reachable through float rounding at the very end of the cycle.
  return { index: 0, remaining: pattern[0]?.ms ?? period };
}

/** The level the pattern shows `elapsedMs` after it started. */
export function levelAt(pattern: LedPattern, elapsedMs: number): boolean {
  const { index } = positionAt(pattern, elapsedMs);
  return pattern[index]?.on ?? false;
}

/**
 * How long after `elapsedMs` the level next changes, or null for a steady
 * pattern. Steps of the same level in a row count as one.
 */
export function msUntilLevelChange(pattern: LedPattern, elapsedMs: number): number | null {
  if (isSteady(pattern)) return null;
  const { index, remaining } = positionAt(pattern, elapsedMs);
  const level = pattern[index]?.on;
  let wait = remaining;
  for (let i = 1; i < pattern.length; i++) {
    const step = pattern[(index + i) % pattern.length];
    if (step === undefined || step.on !== level) break;
    wait += step.ms;
  }
  return wait;
}

/** Human wording of a pattern, e.g. "on 0.1 s, off 2.9 s" or "steady on". */
export function describePattern(pattern: LedPattern): string {
  if (isSteady(pattern)) return pattern[0]?.on ? 'steady on' : 'steady off';
  return pattern.map((step) => `${step.on ? 'on' : 'off'} ${formatSeconds(step.ms)}`).join(', ');
}

function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))} s`;
}
