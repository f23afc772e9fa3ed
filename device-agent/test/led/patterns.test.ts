import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import {
  LED_PATTERNS,
  LED_PRIORITY,
  LED_STATES,
  assertPattern,
  describePattern,
  patternPeriod,
} from '../../src/led/index.ts';

const DOC = new URL('../../docs/led.md', import.meta.url);

describe('LED_PATTERNS', () => {
  it('gives every state a valid pattern, and nothing else', () => {
    assert.deepEqual(Object.keys(LED_PATTERNS).sort(), [...LED_STATES].sort());
    for (const state of LED_STATES) assert.doesNotThrow(() => assertPattern(LED_PATTERNS[state]), state);
  });

  it('gives every state a pattern of its own', () => {
    const seen = new Map<string, string>();
    for (const state of LED_STATES) {
      const key = JSON.stringify(LED_PATTERNS[state]);
      assert.equal(seen.get(key), undefined, `${state} looks like ${seen.get(key)}`);
      seen.set(key, state);
    }
  });

  it('keeps every blink long enough to see and every cycle short enough to read', () => {
    for (const state of LED_STATES) {
      const pattern = LED_PATTERNS[state];
      assert.ok(pattern.every((step) => step.ms >= 50), `${state}: a step under 50 ms`);
      assert.ok(patternPeriod(pattern) <= 3000, `${state}: a cycle over 3 s`);
    }
  });
});

describe('docs/led.md', () => {
  it('has one row per state, in priority order, with the pattern the code uses', async () => {
    const rows = (await readFile(DOC, 'utf8'))
      .split('\n')
      .map((line) => /^\| `([a-z]+)` \| ([^|]+) \|/.exec(line))
      .filter((match) => match !== null);
    assert.deepEqual(
      rows.map((row) => row[1]),
      [...LED_PRIORITY],
    );
    for (const row of rows) {
      const state = LED_STATES.find((s) => s === row[1]);
      assert.ok(state);
      assert.ok(
        row[2]?.includes(describePattern(LED_PATTERNS[state])),
        `${state}: the doc says "${row[2]?.trim()}", the code "${describePattern(LED_PATTERNS[state])}"`,
      );
    }
  });
});
