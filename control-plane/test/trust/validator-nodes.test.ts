import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideAudit, excludeOwners, ownerKey, pickValidator, type ValidatorCandidate } from '../../src/trust/validator-nodes.ts';

const candidate = (nodeId: string, extra: Partial<ValidatorCandidate> = {}): ValidatorCandidate => ({
  nodeId,
  openTasks: 0,
  maxTasks: 1,
  quarantined: false,
  cachedModels: new Set(),
  ...extra,
});

const ALICE = '0x00000000000000000000000000000000000000a1';
const BOB = '0x00000000000000000000000000000000000000b0';

describe('validator choice', () => {
  it('never picks the worker itself nor a node of the worker’s owner', () => {
    const owners = new Map([
      ['worker', ALICE],
      ['sibling', ALICE],
      ['other', BOB],
    ]);
    assert.equal(pickValidator([candidate('worker'), candidate('sibling')], 'worker', 'm', owners), null);
    assert.equal(pickValidator([candidate('worker'), candidate('sibling'), candidate('other')], 'worker', 'm', owners), 'other');
  });

  it('treats an unbound node as its own owner', () => {
    assert.equal(ownerKey('n1', new Map()), 'node:n1');
    assert.equal(pickValidator([candidate('n2')], 'n1', 'm', new Map()), 'n2', 'two unbound nodes are two owners');
    assert.equal(pickValidator([candidate('n1')], 'n1', 'm', new Map()), null);
  });

  it('skips quarantined, busy and excluded validators; prefers a cached model, then the least busy', () => {
    const owners = new Map<string, string>();
    assert.equal(pickValidator([candidate('q', { quarantined: true }), candidate('busy', { openTasks: 1 })], 'w', 'm', owners), null);
    assert.equal(pickValidator([candidate('a'), candidate('b')], 'w', 'm', owners, new Set(['a'])), 'b');
    assert.equal(pickValidator([candidate('a'), candidate('b', { cachedModels: new Set(['m']) })], 'w', 'm', owners), 'b');
    assert.equal(pickValidator([candidate('a', { openTasks: 1, maxTasks: 2 }), candidate('b', { maxTasks: 2 })], 'w', 'm', owners), 'b');
  });
});

describe('owner-level exclusion', () => {
  it('widens an excluded node to every node of its owner, and leaves other shards alone', () => {
    const owners = new Map([
      ['a1', ALICE],
      ['a2', ALICE],
      ['b1', BOB],
    ]);
    const shards = [
      { id: 's1', excludedNodes: ['a1'] },
      { id: 's2', excludedNodes: [] },
      { id: 's3', excludedNodes: ['loner'] },
    ];
    const widened = excludeOwners(shards, owners);
    assert.deepEqual(new Set(widened[0]?.excludedNodes), new Set(['a1', 'a2']));
    assert.equal(widened[1], shards[1], 'untouched when nothing is excluded');
    assert.equal(widened[2], shards[2], 'an unbound node is its own owner: nothing to widen');
    assert.deepEqual(shards[0]?.excludedNodes, ['a1'], 'the input is not mutated');
  });
});

describe('audits of validator verdicts', () => {
  it('always re-checks a convicting verdict, and a passing one at the validator’s own rate', () => {
    assert.deepEqual(decideAudit('fail', 0.05, 0.99), { audit: true, rate: 1 });
    assert.deepEqual(decideAudit('pass', 1, 0.999), { audit: true, rate: 1 }, 'a new validator: every verdict');
    assert.deepEqual(decideAudit('pass', 0.05, 0.5), { audit: false, rate: 0.05 });
    assert.deepEqual(decideAudit('pass', 0.05, 0.01), { audit: true, rate: 0.05 });
  });
});
