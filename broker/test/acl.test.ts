import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canPublish, canSetWill, canSubscribe, type Identity } from '../src/index.ts';

const me: Identity = { id: 'mn' + 'a'.repeat(26), role: 'node' };
const other = 'mn' + 'b'.repeat(26);
const cp: Identity = { id: 'cp' + 'c'.repeat(26), role: 'cp' };
const root = 'meshchain/v1';

describe('ACL', () => {
  it('lets a node publish only its up-kinds on its own subtree', () => {
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/results`, false).allowed, true);
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/presence`, true).allowed, true);
    assert.equal(canPublish(me, `${root}/nodes/${other}/results`, false).allowed, false);
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/assignments`, false).allowed, false, 'down-kind');
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/results`, true).allowed, false, 'retained event');
    assert.equal(canPublish(me, `${root}/broadcast/announcements`, false).allowed, false);
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/results/extra`, false).allowed, false);
    assert.equal(canPublish(me, 'elsewhere', false).allowed, false);
  });

  it('lets a node subscribe to its own subtree and broadcasts, never across nodes', () => {
    for (const ok of [`${root}/nodes/${me.id}/assignments`, `${root}/nodes/${me.id}/#`, `${root}/nodes/${me.id}/+`, `${root}/broadcast/#`, `${root}/broadcast/announcements`]) {
      assert.equal(canSubscribe(me, ok).allowed, true, ok);
    }
    for (const bad of [
      `${root}/nodes/${other}/assignments`,
      `${root}/nodes/+/assignments`,
      `${root}/nodes/#`,
      `${root}/#`,
      '#',
      `$share/g/${root}/nodes/${me.id}/assignments`,
      '$SYS/#',
      `${root}/nodes/${me.id}/assign#`,
      `${root}/nodes/${me.id}/#/x`,
      `${root}/broadcast/unknown`,
    ]) {
      assert.equal(canSubscribe(me, bad).allowed, false, bad);
    }
  });

  it('gives the control plane the whole MeshChain tree and nothing outside it', () => {
    assert.equal(canPublish(cp, `${root}/nodes/${other}/assignments`, false).allowed, true);
    assert.equal(canSubscribe(cp, `${root}/nodes/+/results`).allowed, true);
    assert.equal(canSubscribe(cp, '#').allowed, false);
    assert.equal(canPublish(cp, `${root}/nodes/+/assignments`, false).allowed, false);
  });

  it('allows a will only on the client\'s own retained presence', () => {
    assert.equal(canSetWill(me.id, `${root}/nodes/${me.id}/presence`, true).allowed, true);
    assert.equal(canSetWill(me.id, `${root}/nodes/${me.id}/presence`, false).allowed, false);
    assert.equal(canSetWill(me.id, `${root}/nodes/${other}/presence`, true).allowed, false);
    assert.equal(canSetWill(me.id, `${root}/nodes/${me.id}/results`, true).allowed, false);
  });
});
