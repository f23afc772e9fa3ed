import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  LED_PRIORITY,
  LED_STATES,
  ledStateOf,
  ledStateValidUntil,
  type AgentStatus,
  type LedState,
} from '../../src/led/index.ts';

const NOW = 1_700_000_000_000;

/** Claimed, online, running, nothing to report: idle. */
const calm: AgentStatus = {
  phase: 'running',
  connected: true,
  ownerBound: true,
  working: false,
  updating: false,
  overheating: false,
  error: null,
  identifyUntil: null,
  now: NOW,
};

/** The smallest change to a calm status that calls for each state. */
const TRIGGERS: Record<LedState, (s: AgentStatus) => AgentStatus> = {
  identify: (s) => ({ ...s, identifyUntil: NOW + 30_000 }),
  updating: (s) => ({ ...s, updating: true }),
  error: (s) => ({ ...s, error: 'model store is not writable' }),
  overheating: (s) => ({ ...s, overheating: true }),
  booting: (s) => ({ ...s, phase: 'booting' }),
  offline: (s) => ({ ...s, connected: false }),
  unclaimed: (s) => ({ ...s, ownerBound: false }),
  working: (s) => ({ ...s, working: true }),
  idle: (s) => s,
};

describe('ledStateOf', () => {
  it('maps each condition alone to its state', () => {
    for (const state of LED_STATES) assert.equal(ledStateOf(TRIGGERS[state](calm)), state, state);
  });

  it('lists the states in the order the rules apply', () => {
    assert.deepEqual([...LED_PRIORITY], [...LED_STATES]);
    assert.deepEqual(LED_PRIORITY, [
      'identify',
      'updating',
      'error',
      'overheating',
      'booting',
      'offline',
      'unclaimed',
      'working',
      'idle',
    ]);
  });

  it('lets the higher state win in every pair of conditions', () => {
    for (const [i, high] of LED_PRIORITY.entries()) {
      for (const low of LED_PRIORITY.slice(i + 1)) {
        assert.equal(ledStateOf(TRIGGERS[low](TRIGGERS[high](calm))), high, `${high} over ${low}`);
        assert.equal(ledStateOf(TRIGGERS[high](TRIGGERS[low](calm))), high, `${high} over ${low}, applied first`);
      }
    }
  });

  it('shows identify when everything else holds too', () => {
    const all = LED_STATES.reduce((s, state) => TRIGGERS[state](s), calm);
    assert.equal(ledStateOf(all), 'identify');
  });

  it('ends identify exactly at identifyUntil', () => {
    const s = { ...calm, identifyUntil: NOW + 10 };
    assert.equal(ledStateOf({ ...s, now: NOW + 9 }), 'identify');
    assert.equal(ledStateOf({ ...s, now: NOW + 10 }), 'idle');
    assert.equal(ledStateOf({ ...calm, identifyUntil: NOW - 1 }), 'idle');
  });

  it('shows booting while the agent stops, too', () => {
    assert.equal(ledStateOf({ ...calm, phase: 'stopping' }), 'booting');
  });

  it('treats an empty error string as an error', () => {
    assert.equal(ledStateOf({ ...calm, error: '' }), 'error');
  });
});

describe('ledStateValidUntil', () => {
  it('is the end of an identify request, and null otherwise', () => {
    assert.equal(ledStateValidUntil({ ...calm, identifyUntil: NOW + 5000 }), NOW + 5000);
    assert.equal(ledStateValidUntil({ ...calm, identifyUntil: NOW }), null);
    assert.equal(ledStateValidUntil(calm), null);
    assert.equal(ledStateValidUntil({ ...calm, working: true, error: 'x' }), null);
  });
});
