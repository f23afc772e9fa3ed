/**
 * Reputation-adaptive spot-check sampling, as pure functions.
 *
 * Every result of a new node is checked until it has passed `probationPasses`
 * checks in a row; after that the rate starts at `startRate` and decays
 * geometrically with each further pass down to `floor`. One failure resets
 * the streak (back to checking everything) and counts towards quarantine.
 */
export interface SamplingPolicy {
  probationPasses: number;
  startRate: number;
  /** Multiplier per pass after probation, 0..1. */
  decay: number;
  floor: number;
  /** Failures (in total) after which a node is quarantined until an operator releases it. */
  quarantineAfter: number;
}

export const DEFAULT_SAMPLING: SamplingPolicy = { probationPasses: 10, startRate: 0.5, decay: 0.9, floor: 0.05, quarantineAfter: 2 };

export interface NodeTrack {
  /** Checks passed since the last failure. */
  streak: number;
  passes: number;
  failures: number;
  /** Results accepted without a check. */
  unchecked: number;
}

export const NEW_NODE: NodeTrack = { streak: 0, passes: 0, failures: 0, unchecked: 0 };

export function samplingRate(track: NodeTrack, policy: SamplingPolicy): number {
  if (track.streak < policy.probationPasses) return 1;
  return Math.max(policy.floor, policy.startRate * policy.decay ** (track.streak - policy.probationPasses));
}

export type CheckOutcome = 'pass' | 'fail' | 'unchecked';

export function recordOutcome(track: NodeTrack, outcome: CheckOutcome): NodeTrack {
  switch (outcome) {
    case 'pass':
      return { ...track, streak: track.streak + 1, passes: track.passes + 1 };
    case 'fail':
      return { ...track, streak: 0, failures: track.failures + 1 };
    case 'unchecked':
      return { ...track, unchecked: track.unchecked + 1 };
  }
}

export function isQuarantined(track: NodeTrack, policy: SamplingPolicy): boolean {
  return track.failures >= policy.quarantineAfter;
}

/**
 * Probability that a node falsifying a fraction `f` of its results would
 * have been caught at least once, given the sampling rate pᵢ in force for
 * each of its results: 1 − Π(1 − pᵢ·f). Assumes the cheater picks which
 * results to falsify independently of which are checked (the control plane
 * decides after the result arrives, so the node cannot know).
 */
export function detectionProbability(rates: readonly number[], falsifiedFraction: number): number {
  let escape = 1;
  for (const p of rates) escape *= 1 - Math.min(1, Math.max(0, p)) * falsifiedFraction;
  return 1 - escape;
}
