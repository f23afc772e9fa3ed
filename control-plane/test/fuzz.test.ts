import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { encodeMessage, sealMessage, topicFor, type UpKind } from '@meshchain/protocol';
import { mutate, mutateValue, prng } from '../../protocol/test/fuzz/mutate.ts';
import { ApiClient } from '../src/index.ts';
import { CAPABILITIES, ScriptedNode, startControlPlane, type RunningControlPlane } from './helpers/harness.ts';

/**
 * A node that speaks garbage: 20,000 random, mutated and mutated-then-signed
 * messages on its own topics, through the real broker into a running control
 * plane. Nothing crashes, nothing throws inside a handler, every refusal is
 * logged with a reason, and the control plane still serves its API.
 */
describe('fuzzing the control plane through the broker', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane({ logLevel: 'info' });
  });
  after(() => cp.stop());

  it('survives 20,000 hostile messages and logs a reason for each refusal', async (t) => {
    const node = new ScriptedNode(cp.info.controlPlaneId);
    await node.connect(cp.info.mqttUrl);
    t.after(() => node.close());
    const random = prng(7);
    const valid: Record<UpKind, unknown> = {
      presence: { state: 'online', since: 1 },
      capabilities: CAPABILITIES,
      result: {
        jobId: 'job_x', shardId: 'job_x.0', leaseId: 'lease_x', modelSha256: 'a'.repeat(64), inputHash: 'b'.repeat(64),
        outputs: [{ index: 0, tokens: [1, 2], text: 'ab', finishReason: 'length' }], stats: { promptTokens: 1, generatedTokens: 2, computeMs: 1 },
      },
      handback: { shardId: 'job_x.0', leaseId: 'lease_x', reason: 'error' },
    } as Record<UpKind, unknown>;
    const kinds = Object.keys(valid) as UpKind[];
    const total = 20_000;
    const sends: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const kind = kinds[i % kinds.length]!;
      const sealed = encodeMessage(sealMessage(kind, valid[kind] as never, node.signer));
      let payload: Buffer;
      if (random() < 0.5) payload = mutate(sealed, random);
      else {
        try {
          payload = encodeMessage(sealMessage(kind, mutateValue(valid[kind], random) as never, node.signer));
        } catch {
          payload = mutate(sealed, random);
        }
      }
      sends.push(node.sendRaw(topicFor(kind, node.id), payload));
      if (sends.length >= 500) await Promise.all(sends.splice(0));
    }
    await Promise.all(sends);
    // A final well-formed message: once it is recorded, everything before it was handled.
    await node.send('capabilities', { ...CAPABILITIES, agentVersion: '9.9.9' });
    const api = new ApiClient(cp.info.apiUrl);
    const deadline = Date.now() + 60_000;
    while ((await api.nodes()).find((n) => n.id === node.id)?.capabilities?.agentVersion !== '9.9.9') {
      assert.ok(Date.now() < deadline, 'the control plane stopped processing');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }

    assert.deepEqual(cp.lines.filter((l) => l.msg === 'message handler failed'), [], 'no handler threw');
    const refusedAtDoor = cp.lines.filter((l) => l.msg === 'message rejected');
    const refusedResults = cp.lines.filter((l) => l.msg === 'result rejected');
    assert.ok(refusedAtDoor.length > total * 0.5, `${refusedAtDoor.length} refused at the door`);
    assert.ok(refusedResults.length > 0, 'signed but bogus results reached the intake and were refused');
    for (const line of [...refusedAtDoor, ...refusedResults]) assert.ok(typeof line.reason === 'string' && line.reason.length > 0);
    assert.equal((await api.info()).controlPlaneId, cp.info.controlPlaneId);
  });
});
