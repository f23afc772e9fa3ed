import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  encodeMessage,
  LIMITS,
  MalformedMessageError,
  openMessage,
  ReplayError,
  ReplayGuard,
  SchemaError,
  sealMessage,
  SignatureError,
  topicFor,
  TopicError,
  deriveId,
  parseTopic,
  fleetSubscription,
} from '../src/index.ts';
import { newSigner, sampleAssignment, sampleResult } from './helpers.ts';

const cp = newSigner();
const cpId = deriveId(cp.publicKey, 'cp');
const trusted = { trustedControlPlanes: new Set([cpId]) };

describe('topics', () => {
  it('maps kinds to topics and back', () => {
    const node = deriveId(newSigner().publicKey, 'node');
    assert.equal(topicFor('result', node), `meshchain/v1/nodes/${node}/results`);
    assert.deepEqual(parseTopic(topicFor('assignment', node)), { kind: 'assignment', nodeId: node });
    assert.deepEqual(parseTopic('meshchain/v1/broadcast/announcements'), { kind: 'announcement', nodeId: null });
    assert.equal(fleetSubscription('result'), 'meshchain/v1/nodes/+/results');
    for (const bad of ['meshchain/v1/nodes/+/results', 'meshchain/v2/nodes/x/results', `meshchain/v1/nodes/${node}/unknown`, 'a/b', '']) {
      assert.equal(parseTopic(bad), null, bad);
    }
    assert.throws(() => topicFor('result', 'not-a-node'), TopicError);
  });
});

describe('envelopes', () => {
  it('round-trips a node result and a control-plane assignment', () => {
    const node = newSigner();
    const nodeId = deriveId(node.publicKey, 'node');
    const result = sealMessage('result', sampleResult(), node);
    const opened = openMessage(topicFor('result', nodeId), encodeMessage(result), trusted);
    assert.equal(opened.kind, 'result');
    assert.equal(opened.nodeId, nodeId);
    assert.deepEqual(opened.body, sampleResult());

    const assignment = sealMessage('assignment', sampleAssignment(), cp);
    assert.equal(assignment.from, cpId);
    const got = openMessage(topicFor('assignment', nodeId), encodeMessage(assignment), trusted);
    assert.equal(got.kind, 'assignment');
  });

  it('refuses a tampered body, a forged sender and a kind on the wrong topic', () => {
    const node = newSigner();
    const nodeId = deriveId(node.publicKey, 'node');
    const envelope = sealMessage('result', sampleResult(), node);
    const tampered = { ...envelope, body: { ...envelope.body, outputs: [{ ...envelope.body.outputs[0], tokens: [9] }] } };
    assert.throws(() => openMessage(topicFor('result', nodeId), Buffer.from(JSON.stringify(tampered)), trusted), SignatureError);

    const otherId = deriveId(newSigner().publicKey, 'node');
    assert.throws(() => openMessage(topicFor('result', otherId), encodeMessage(envelope), trusted), /signed by/);
    assert.throws(() => openMessage(topicFor('handback', nodeId), encodeMessage(envelope), trusted), TopicError);
    assert.throws(() => openMessage('meshchain/v1/nodes/x/results', encodeMessage(envelope), trusted), TopicError);
  });

  it('refuses control-plane messages signed by an untrusted key, or by a node', () => {
    const nodeId = deriveId(newSigner().publicKey, 'node');
    const rogue = sealMessage('assignment', sampleAssignment(), newSigner());
    assert.throws(() => openMessage(topicFor('assignment', nodeId), encodeMessage(rogue), trusted), /trusted control plane/);
    // A node signing a down-kind: sealMessage derives a cp id from its key, which nobody trusts.
    const fromNode = sealMessage('ack', { resultId: 'r', shardId: 's', leaseId: 'l', status: 'accepted' }, newSigner());
    assert.throws(() => openMessage(topicFor('ack', nodeId), encodeMessage(fromNode), trusted), SignatureError);
  });

  it('refuses replays and stale event messages, but not retained state', () => {
    const node = newSigner();
    const nodeId = deriveId(node.publicKey, 'node');
    const replay = new ReplayGuard();
    const options = { ...trusted, replay, maxSkewMs: 60_000 };
    const bytes = encodeMessage(sealMessage('result', sampleResult(), node));
    openMessage(topicFor('result', nodeId), bytes, options);
    assert.throws(() => openMessage(topicFor('result', nodeId), bytes, options), ReplayError);

    const stale = sealMessage('result', sampleResult(), node, { now: Date.now() - 120_000 });
    assert.throws(() => openMessage(topicFor('result', nodeId), encodeMessage(stale), options), /off the receiver's clock/);

    const oldPresence = sealMessage('presence', { state: 'offline', since: 1 }, node, { now: 1 });
    const opened = openMessage(topicFor('presence', nodeId), encodeMessage(oldPresence), options);
    assert.equal(opened.kind, 'presence');
  });

  it('names the broken field of a body that fails its schema', () => {
    const node = newSigner();
    const nodeId = deriveId(node.publicKey, 'node');
    const body = { ...sampleResult(), outputs: [] } as unknown as ReturnType<typeof sampleResult>;
    const envelope = sealMessage('result', body, node);
    assert.throws(
      () => openMessage(topicFor('result', nodeId), encodeMessage(envelope), trusted),
      (error: unknown) => error instanceof SchemaError && /outputs/.test(error.details ?? ''),
    );
  });

  it('refuses garbage without throwing anything but protocol errors', () => {
    const nodeId = deriveId(newSigner().publicKey, 'node');
    const topic = topicFor('result', nodeId);
    const inputs: Uint8Array[] = [
      Buffer.from(''),
      Buffer.from('not json'),
      Buffer.from('null'),
      Buffer.from('[]'),
      Buffer.from('{"v":1}'),
      Buffer.from(JSON.stringify({ v: 1, kind: 'result', id: 'abcdefgh', ts: 1, from: nodeId, pub: 'x'.repeat(43), body: {}, sig: '*'.repeat(86) })),
      new Uint8Array(LIMITS.maxPayloadBytes + 1),
    ];
    for (const payload of inputs) {
      assert.throws(() => openMessage(topic, payload, trusted), (e: unknown) => e instanceof MalformedMessageError || e instanceof SignatureError);
    }
  });
});
