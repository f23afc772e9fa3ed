import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import {
  deriveId,
  encodeMessage,
  isProtocolError,
  openMessage,
  ReplayGuard,
  sealMessage,
  topicFor,
  type MessageKind,
} from '../src/index.ts';
import { newSigner, sampleAssignment, sampleResult } from './helpers.ts';
import { mutate, mutateValue, prng } from './fuzz/mutate.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const node = newSigner();
const nodeId = deriveId(node.publicKey, 'node');
const cp = newSigner();
const options = { trustedControlPlanes: new Set([deriveId(cp.publicKey, 'cp')]), maxSkewMs: 600_000, replay: new ReplayGuard() };

const seeds: { kind: MessageKind; topic: string; payload: Buffer }[] = [
  { kind: 'result', topic: topicFor('result', nodeId), payload: encodeMessage(sealMessage('result', sampleResult(), node)) },
  { kind: 'presence', topic: topicFor('presence', nodeId), payload: encodeMessage(sealMessage('presence', { state: 'online', since: 1 }, node)) },
  { kind: 'handback', topic: topicFor('handback', nodeId), payload: encodeMessage(sealMessage('handback', { shardId: 's', leaseId: 'l', reason: 'shutdown' }, node)) },
  { kind: 'assignment', topic: topicFor('assignment', nodeId), payload: encodeMessage(sealMessage('assignment', sampleAssignment(), cp)) },
];
const topics = [...seeds.map((s) => s.topic), 'meshchain/v1/nodes/+/results', 'meshchain/v1/broadcast/announcements', '', 'x'.repeat(300)];

/** Mutates a message's body and signs it properly. */
function resealed(valid: Buffer, random: () => number): Buffer {
  const envelope = JSON.parse(valid.toString()) as { kind: 'result'; body: unknown };
  try {
    return encodeMessage(sealMessage(envelope.kind, mutateValue(envelope.body, random) as never, node));
  } catch {
    return mutate(valid, random);
  }
}

describe('fuzzing the decoders', () => {
  it('answers 100,000 random and mutated messages with protocol errors only, in bounded memory', () => {
    const random = prng(20261122);
    const total = 100_000;
    const reasons = new Map<string, number>();
    let accepted = 0;
    let heapAtHalf = 0;
    gc();
    const heapAtStart = process.memoryUsage().heapUsed;
    for (let i = 0; i < total; i++) {
      const seed = seeds[i % seeds.length]!;
      const topic = random() < 0.9 ? seed.topic : topics[Math.floor(random() * topics.length)]!;
      // A fifth are signed by the real key after mutation: what a malicious node can send, so the schemas are exercised too.
      const payload = seed.kind !== 'assignment' && random() < 0.2 ? resealed(seed.payload, random) : mutate(seed.payload, random);
      try {
        openMessage(topic, payload, options);
        accepted++;
      } catch (error) {
        // Anything but a ProtocolError (a TypeError from a decoder, say) fails the test.
        if (!isProtocolError(error)) throw new Error(`message ${i} threw ${String(error)}; payload ${payload.toString('base64').slice(0, 200)}`);
        assert.ok(error.shortMessage.length > 0, 'every refusal carries a reason');
        reasons.set(error.name, (reasons.get(error.name) ?? 0) + 1);
      }
      if (i === total / 2) {
        gc();
        heapAtHalf = process.memoryUsage().heapUsed;
      }
    }
    gc();
    const heapAtEnd = process.memoryUsage().heapUsed;
    // A mutation may leave a message valid (e.g. a flipped bit in a retained state message's unsigned field is impossible, but
    // whitespace edits are not): those are few, and none of them is an event message seen before.
    assert.ok(accepted < total * 0.05, `${accepted} mutated messages were accepted`);
    for (const name of ['MalformedMessageError', 'SignatureError', 'TopicError', 'SchemaError']) assert.ok((reasons.get(name) ?? 0) > 0, `${name} exercised`);
    const growth = heapAtEnd - heapAtHalf;
    assert.ok(growth < 16 * 1024 * 1024, `heap grew ${Math.round(growth / 1024)} KiB over the second half (start ${Math.round(heapAtStart / 1024)} KiB)`);
  });
});
