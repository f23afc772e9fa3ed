import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openDatabase } from '../src/store/db.ts';
import { NodeStore } from '../src/nodes/node-store.ts';

describe('presence', () => {
  it('lets a will beat the online message of its own session, and a new session beat an old will', () => {
    const nodes = new NodeStore(openDatabase(':memory:'));
    const id = 'mn' + 'a'.repeat(26);
    assert.equal(nodes.recordPresence(id, 'pub', { state: 'online', since: 100 }), true);
    assert.equal(nodes.get(id)?.presence, 'online');
    // The abrupt drop: the will was sealed at connect time, with the same session.
    assert.equal(nodes.recordPresence(id, 'pub', { state: 'offline', since: 100 }), true);
    assert.equal(nodes.get(id)?.presence, 'offline');
    // A redelivered online message of that session does not resurrect it.
    assert.equal(nodes.recordPresence(id, 'pub', { state: 'online', since: 100 }), false);
    assert.equal(nodes.get(id)?.presence, 'offline');
    // The node reconnects: a later session wins; an old retained will arriving late does not.
    assert.equal(nodes.recordPresence(id, 'pub', { state: 'online', since: 200 }), true);
    assert.equal(nodes.recordPresence(id, 'pub', { state: 'offline', since: 100 }), false);
    assert.equal(nodes.get(id)?.presence, 'online');
  });
});
