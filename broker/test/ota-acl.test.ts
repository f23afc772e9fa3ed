import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canPublish, canSubscribe, type Identity } from '../src/index.ts';

const me: Identity = { id: 'mn' + 'a'.repeat(26), role: 'node' };
const other = 'mn' + 'b'.repeat(26);
const cp: Identity = { id: 'cp' + 'c'.repeat(26), role: 'cp' };
const root = 'meshchain/v1';

describe('ACL for OTA kinds (follows from the topic table)', () => {
  it('lets a node report update status on its own subtree only, never retained', () => {
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/update-status`, false).allowed, true);
    assert.equal(canPublish(me, `${root}/nodes/${me.id}/update-status`, true).allowed, false, 'retained');
    assert.equal(canPublish(me, `${root}/nodes/${other}/update-status`, false).allowed, false, 'another node');
  });

  it('refuses a node publishing an update offer (wrong direction), even to itself', () => {
    const own = canPublish(me, `${root}/nodes/${me.id}/update-offers`, false);
    assert.equal(own.allowed, false);
    assert.match(own.allowed ? '' : own.reason, /not a topic a node publishes/);
    assert.equal(canPublish(me, `${root}/nodes/${other}/update-offers`, false).allowed, false);
  });

  it('lets a node subscribe to its own offers, not to another node\'s', () => {
    assert.equal(canSubscribe(me, `${root}/nodes/${me.id}/update-offers`).allowed, true);
    assert.equal(canSubscribe(me, `${root}/nodes/${other}/update-offers`).allowed, false);
    assert.equal(canSubscribe(me, `${root}/nodes/+/update-status`).allowed, false);
  });

  it('lets the control plane offer updates and hear every report', () => {
    assert.equal(canPublish(cp, `${root}/nodes/${me.id}/update-offers`, false).allowed, true);
    assert.equal(canSubscribe(cp, `${root}/nodes/+/update-status`).allowed, true);
  });
});
