import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_SAMPLING, detectionProbability, isQuarantined, NEW_NODE, recordOutcome, samplingRate, type NodeTrack } from '../../src/trust/sampling.ts';

const policy = { ...DEFAULT_SAMPLING, probationPasses: 3, startRate: 0.5, decay: 0.5, floor: 0.1, quarantineAfter: 2 };

describe('sampling policy', () => {
  it('checks every result of a new node, then decays to the floor', () => {
    let track: NodeTrack = NEW_NODE;
    const rates: number[] = [];
    for (let i = 0; i < 8; i++) {
      rates.push(samplingRate(track, policy));
      track = recordOutcome(track, 'pass');
    }
    assert.deepEqual(rates, [1, 1, 1, 0.5, 0.25, 0.125, 0.1, 0.1]);
  });

  it('resets the streak on a failure and quarantines after repeated failures', () => {
    let track: NodeTrack = { ...NEW_NODE, streak: 10, passes: 10 };
    assert.equal(samplingRate(track, policy), 0.1);
    track = recordOutcome(track, 'fail');
    assert.equal(samplingRate(track, policy), 1, 'back to checking everything');
    assert.equal(isQuarantined(track, policy), false);
    track = recordOutcome(recordOutcome(track, 'pass'), 'fail');
    assert.equal(isQuarantined(track, policy), true);
    assert.equal(recordOutcome(track, 'unchecked').unchecked, 1);
  });
});

describe('detection probability', () => {
  it('is 1 − Π(1 − pᵢ·f)', () => {
    assert.equal(detectionProbability([], 0.5), 0);
    assert.equal(detectionProbability([1, 1], 1), 1);
    assert.ok(Math.abs(detectionProbability([0.5, 0.5], 0.2) - (1 - 0.9 * 0.9)) < 1e-12);
    // A node faking 10% of 200 results at the 5% floor is caught with probability 1 − 0.995²⁰⁰ ≈ 63%.
    assert.ok(Math.abs(detectionProbability(Array(200).fill(0.05), 0.1) - (1 - 0.995 ** 200)) < 1e-12);
  });

  it('grows with the number of results and the fraction falsified', () => {
    const rates = Array(50).fill(0.1);
    assert.ok(detectionProbability(rates, 0.5) > detectionProbability(rates, 0.1));
    assert.ok(detectionProbability([...rates, ...rates], 0.1) > detectionProbability(rates, 0.1));
  });
});
