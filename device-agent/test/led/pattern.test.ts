import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LedError,
  assertPattern,
  describePattern,
  isSteady,
  levelAt,
  msUntilLevelChange,
  patternPeriod,
  type LedPattern,
} from '../../src/led/index.ts';

const blink: LedPattern = [
  { on: true, ms: 100 },
  { on: false, ms: 300 },
];

describe('levelAt', () => {
  it('holds each step over [start, end) and switches exactly at the boundary', () => {
    assert.equal(levelAt(blink, 0), true);
    assert.equal(levelAt(blink, 99.999), true);
    assert.equal(levelAt(blink, 100), false);
    assert.equal(levelAt(blink, 399), false);
  });

  it('repeats the cycle', () => {
    assert.equal(levelAt(blink, 400), true);
    assert.equal(levelAt(blink, 500), false);
    assert.equal(levelAt(blink, 400 * 1_000_000 + 50), true);
  });

  it('repeats backwards too, so a clock stepping back does no harm', () => {
    assert.equal(levelAt(blink, -1), false);
    assert.equal(levelAt(blink, -300), false);
    assert.equal(levelAt(blink, -301), true);
    assert.equal(levelAt(blink, -400), true);
  });

  it('gives the only level of a one-step pattern', () => {
    assert.equal(levelAt([{ on: true, ms: 1 }], 12345), true);
    assert.equal(levelAt([{ on: false, ms: 1 }], 0), false);
  });

  it('refuses bad patterns and times', () => {
    const bad = (fn: () => unknown) =>
      assert.throws(fn, (error: unknown) => error instanceof LedError && error.code === 'invalid-pattern');
    bad(() => levelAt([], 0));
    bad(() => levelAt([{ on: true, ms: 0 }], 0));
    bad(() => levelAt([{ on: true, ms: -5 }], 0));
    bad(() => levelAt([{ on: true, ms: Number.POSITIVE_INFINITY }], 0));
    bad(() => levelAt(blink, Number.NaN));
    bad(() => levelAt(blink, Number.POSITIVE_INFINITY));
  });
});

describe('msUntilLevelChange', () => {
  it('counts to the end of the current step', () => {
    assert.equal(msUntilLevelChange(blink, 0), 100);
    assert.equal(msUntilLevelChange(blink, 60), 40);
    assert.equal(msUntilLevelChange(blink, 100), 300);
    assert.equal(msUntilLevelChange(blink, 399), 1);
  });

  it('merges steps of the same level in a row, across the end of the cycle', () => {
    const p: LedPattern = [
      { on: true, ms: 100 },
      { on: false, ms: 100 },
      { on: false, ms: 50 },
      { on: true, ms: 10 },
    ];
    assert.equal(msUntilLevelChange(p, 100), 150);
    assert.equal(msUntilLevelChange(p, 250), 110);
  });

  it('is null for steady patterns', () => {
    assert.equal(msUntilLevelChange([{ on: true, ms: 1000 }], 5), null);
    assert.equal(msUntilLevelChange([{ on: false, ms: 1 }, { on: false, ms: 2 }], 5), null);
  });
});

describe('pattern helpers', () => {
  it('measure the period and steadiness', () => {
    assert.equal(patternPeriod(blink), 400);
    assert.equal(isSteady(blink), false);
    assert.equal(isSteady([{ on: true, ms: 5 }]), true);
    assert.doesNotThrow(() => assertPattern(blink));
  });

  it('describe a pattern in words', () => {
    assert.equal(describePattern(blink), 'on 0.1 s, off 0.3 s');
    assert.equal(describePattern([{ on: true, ms: 1000 }]), 'steady on');
    assert.equal(describePattern([{ on: false, ms: 1000 }]), 'steady off');
    assert.equal(describePattern([{ on: true, ms: 80 }, { on: false, ms: 1250 }]), 'on 0.08 s, off 1.25 s');
  });
});
