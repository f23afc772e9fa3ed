// The ledger on a real SQLite database: contributions, epochs, trees and proofs. No sockets.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { StandardMerkleTree } from '@openzeppelin/merkle-tree';
import {
  CONTRIBUTION_LEAF_TYPES,
  EARNINGS_LEAF_TYPES,
  contributionLeaf,
  deriveNodeId,
  earningsLeaf,
  generateSeed,
  NodeCryptoSigner,
  sealMessage,
} from '@meshchain/protocol';
import type { AcceptedShard } from '../../src/intake/result-intake.ts';
import { BindingStore } from '../../src/rewards/bindings.ts';
import { Ledger } from '../../src/rewards/ledger.ts';
import { openDatabase, type Db } from '../../src/store/db.ts';

const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BOB = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const MODEL = 'e'.repeat(64);

function node(): { id: string; signer: NodeCryptoSigner } {
  const signer = new NodeCryptoSigner(generateSeed());
  return { id: deriveNodeId(signer.publicKey), signer };
}

/** An accepted shard worth 5 prompt tokens (3 bytes + BOS/EOS, the cap) + `tokens` units at cost factor 1. */
function shard(jobId: string, shardIndex: number, nodeId: string, tokens: number): AcceptedShard {
  return {
    jobId,
    shardIndex,
    nodeId,
    modelSha256: MODEL,
    inputs: [{ index: 0, prompt: 'abc' }],
    result: {
      jobId,
      shardId: `${jobId}.${shardIndex}`,
      leaseId: 'lease',
      modelSha256: MODEL,
      inputHash: 'f'.repeat(64),
      outputs: [{ index: 0, tokens: Array.from({ length: tokens }, (_, i) => i), text: '', finishReason: 'length' }],
      stats: { promptTokens: 5, generatedTokens: tokens, computeMs: 1 },
    },
    resultId: `r-${jobId}-${shardIndex}`,
  };
}

describe('reward ledger', () => {
  let dir = '';
  let db: Db;
  let ledger: Ledger;
  let bindings: BindingStore;
  const bind = (n: { id: string; signer: NodeCryptoSigner }, owner: string, boundAt = Date.now()): void => {
    const verdict = bindings.record(n.id, sealMessage('binding', { owner, boundAt }, n.signer), { maxSkewMs: 60_000 });
    assert.equal(verdict.status, 'recorded');
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-ledger-'));
    db = openDatabase(join(dir, 'cp.db'));
    ledger = new Ledger(db, { modelCostFactors: {} });
    bindings = new BindingStore(db);
  });
  afterEach(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('records each accepted shard once, in the open epoch, with the owner bound at that moment', () => {
    const [n1, n2] = [node(), node()];
    bind(n1, ALICE);
    ledger.recordContribution(shard('job', 0, n1.id, 10));
    ledger.recordContribution(shard('job', 0, n1.id, 99)); // a redelivery: ignored
    ledger.recordContribution(shard('job', 1, n2.id, 4));
    const rows = ledger.contributionsOfEpoch(1);
    assert.deepEqual(rows.map((r) => [r.shardIndex, r.owner, r.units]), [
      [0, ALICE, 15],
      [1, null, 9],
    ]);
    assert.equal(ledger.openEpoch().epoch, 1);
    assert.equal(ledger.payableInOpenEpoch(), 1, 'the unbound shard is not payable yet');
  });

  it('closes an epoch into stored trees whose proofs verify, and carries unbound work until an owner is bound', () => {
    const [n1, n2] = [node(), node()];
    bind(n1, ALICE);
    ledger.recordContribution(shard('job', 0, n1.id, 10)); // 15 units
    ledger.recordContribution(shard('job', 1, n2.id, 5)); // 10 units, unbound

    const e1 = ledger.closeEpoch(1_000n);
    assert.equal(e1.state, 'closed');
    assert.deepEqual([e1.owners, e1.contributions, e1.units, e1.totalCumulative], [1, 1, '15', '15000']);
    assert.equal(ledger.openEpoch().epoch, 2);
    assert.deepEqual(ledger.contributionsOfEpoch(2).map((r) => r.shardIndex), [1], 'carried into epoch 2');

    const earnings = ledger.earningsTree(1);
    assert.ok(earnings && e1.earningsRoot);
    assert.equal(earnings.root, e1.earningsRoot);
    const alice = ledger.earningsOf(ALICE, 1);
    assert.deepEqual(alice, { cumulative: 15_000n, leafIndex: 0 });
    assert.ok(StandardMerkleTree.verify(e1.earningsRoot, [...EARNINGS_LEAF_TYPES], earningsLeaf(ALICE, 15_000n), earnings.getProof(alice.leafIndex)));

    const paid = ledger.contribution('job', 0);
    assert.ok(paid?.leafIndex !== null && paid?.leafIndex !== undefined && e1.contributionsRoot);
    const leaf = contributionLeaf({ jobId: 'job', shardIndex: 0, nodeId: n1.id, owner: ALICE, units: 15n });
    assert.ok(StandardMerkleTree.verify(e1.contributionsRoot, [...CONTRIBUTION_LEAF_TYPES], leaf, ledger.contributionsTree(1)?.getProof(paid.leafIndex) ?? []));

    // The unbound node binds; its carried shard is paid in epoch 2, and ALICE stays in the tree.
    bind(n2, BOB);
    const e2 = ledger.closeEpoch(1_000n);
    assert.deepEqual([e2.owners, e2.contributions, e2.totalCumulative], [2, 1, '25000']);
    assert.equal(ledger.earningsOf(BOB, 2)?.cumulative, 10_000n);
    assert.equal(ledger.earningsOf(ALICE, 2)?.cumulative, 15_000n);
    assert.equal(ledger.contribution('job', 1)?.owner, BOB);
    assert.equal(ledger.contribution('job', 1)?.epoch, 2);
  });

  it('leaves forfeited contributions out of every tree, and never touches a closed epoch', () => {
    const [honest, cheat] = [node(), node()];
    bind(honest, ALICE);
    bind(cheat, BOB);
    ledger.recordContribution(shard('job', 0, honest.id, 10));
    ledger.recordContribution(shard('job', 1, cheat.id, 10));
    ledger.recordContribution(shard('job', 2, cheat.id, 10));
    assert.equal(ledger.forfeitContributions({ nodeId: cheat.id, reason: 'quarantined' }), 2);

    const e1 = ledger.closeEpoch(1n);
    assert.deepEqual([e1.owners, e1.contributions, e1.units], [1, 1, '15']);
    assert.equal(ledger.earningsOf(BOB, 1), null, 'the forfeiting owner earns nothing');
    const leaves = [...(ledger.contributionsTree(1)?.entries() ?? [])].map(([, v]) => v[2]);
    assert.deepEqual(leaves, [contributionLeaf({ jobId: 'job', shardIndex: 0, nodeId: honest.id, owner: ALICE, units: 15n })[2]]);
    assert.equal(ledger.contribution('job', 1)?.forfeitReason, 'quarantined');

    assert.equal(ledger.forfeitContributions({ nodeId: honest.id, reason: 'late' }), 0, 'settled contributions stay paid');
  });

  it('moves epochs through closed → posting → posted, rewinds what the chain lost, and keeps it all across a reopen', () => {
    const n1 = node();
    bind(n1, ALICE);
    ledger.recordContribution(shard('job', 0, n1.id, 1));
    ledger.closeEpoch(1n);
    ledger.closeEpoch(1n);
    assert.equal(ledger.nextEpochToPost()?.epoch, 1);

    const hash = `0x${'ab'.repeat(32)}` as const;
    ledger.recordPostSending(1, { txHash: hash, nonce: 7, raw: '0x01', sentAt: 5 });
    const posting = ledger.nextEpochToPost();
    assert.deepEqual([posting?.epoch, posting?.state, posting?.txHash, posting?.txNonce, posting?.attempts, posting?.txRaw], [1, 'posting', hash, 7, 1, '0x01']);
    ledger.markPosted(1, { txHash: hash, block: 12n, gasUsed: 60_000n });
    assert.equal(ledger.nextEpochToPost()?.epoch, 2);
    assert.equal(ledger.latestPostedEpoch(), 1);
    assert.throws(() => ledger.recordPostSending(1, { txHash: hash, nonce: 8, raw: '0x02', sentAt: 6 }), /not waiting to be posted/);

    db.close();
    db = openDatabase(join(dir, 'cp.db'));
    ledger = new Ledger(db, { modelCostFactors: {} });
    assert.deepEqual(ledger.epochs().map((e) => e.state), ['posted', 'closed', 'open']);
    assert.equal(ledger.epoch(1)?.gasUsed, 60_000);

    assert.equal(ledger.rewindPostedFrom(1), 1);
    assert.deepEqual(ledger.epochs().map((e) => [e.state, e.txHash]), [['closed', null], ['closed', null], ['open', null]]);
    assert.ok(ledger.earningsTree(1), 'the trees survive a rewind: the same roots are posted again');
  });
});
