// Pure reward decisions, tested without sockets, timers or databases.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { zeroHash, type Hex } from 'viem';
import { epochRoot } from '@meshchain/contracts';
import type { BindingBody, InferResultBody } from '@meshchain/protocol';
import { judgeBinding } from '../../src/rewards/bindings.ts';
import { decideEpochTimer, planEpochClose, type LedgerContribution } from '../../src/rewards/epoch-plan.ts';
import { firstEpochToRepost, planPostStep, postRetryDelay, type PlanPostStepParameters } from '../../src/rewards/post-plan.ts';
import { modelCostFactor, shardUnits } from '../../src/rewards/units.ts';

const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';
const BOB = '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC';
const CAROL = '0x90F79bf6EB2c4f870365E785982E1f101E93b906';

const result = (promptTokens: number, outputs: number[][]): InferResultBody => ({
  jobId: 'j',
  shardId: 'j.0',
  leaseId: 'l',
  modelSha256: 'a'.repeat(64),
  inputHash: 'b'.repeat(64),
  outputs: outputs.map((tokens, index) => ({ index, tokens, text: '', finishReason: 'length' })),
  stats: { promptTokens, generatedTokens: 999_999, computeMs: 1 },
});

const c = (jobId: string, shardIndex: number, nodeId: string, owner: string | null, units: number, forfeited = false): LedgerContribution => ({
  jobId,
  shardIndex,
  nodeId,
  owner,
  units,
  forfeited,
});

describe('compute units', () => {
  it('counts generated tokens from the outputs and prompt tokens capped by the prompt bytes, times the cost factor', () => {
    const inputs = [{ index: 0, prompt: 'hello' }, { index: 1, prompt: 'héllo' }]; // 5 + 6 bytes, +2 each
    assert.deepEqual(shardUnits({ inputs, result: result(8, [[1, 2, 3], [4]]), costFactor: 1 }), { promptTokens: 8, generatedTokens: 4, units: 12 });
    // An inflated prompt count is capped at 5 + 2 + 6 + 2 = 15; the stats' generatedTokens are ignored.
    assert.deepEqual(shardUnits({ inputs, result: result(1_000_000, [[1, 2, 3], [4]]), costFactor: 3 }), { promptTokens: 15, generatedTokens: 4, units: 57 });
    assert.throws(() => shardUnits({ inputs, result: result(1, [[1]]), costFactor: 0 }), RangeError);
  });

  it('uses the configured factor of a model, 1 for any other', () => {
    const factors = { ['c'.repeat(64)]: 4 };
    assert.equal(modelCostFactor(factors, 'c'.repeat(64)), 4);
    assert.equal(modelCostFactor(factors, 'd'.repeat(64)), 1);
    assert.equal(modelCostFactor(factors, 'constructor'), 1);
  });
});

describe('planning an epoch close', () => {
  it('pays bound owners, carries unbound nodes, drops forfeited shards, and keeps every owner cumulative', () => {
    const plan = planEpochClose({
      epoch: 2,
      contributions: [
        c('job-b', 1, 'node-1', ALICE, 10),
        c('job-a', 3, 'node-2', null, 7), // unbound when accepted, bound now → BOB
        c('job-a', 0, 'node-1', ALICE, 5),
        c('job-c', 0, 'node-3', null, 9), // still unbound → carried
        c('job-c', 1, 'node-1', ALICE, 100, true), // forfeited
      ],
      bindings: new Map([['node-2', BOB], ['node-1', CAROL]]), // node-1 rebound: shards keep the owner of their time
      previous: new Map([[CAROL, 50n], [ALICE, 1_000n]]),
      weiPerUnit: 10n,
    });
    assert.deepEqual(plan.included.map((x) => [x.jobId, x.shardIndex, x.owner, x.leafIndex]), [
      ['job-a', 0, ALICE, 0],
      ['job-a', 3, BOB, 1],
      ['job-b', 1, ALICE, 2],
    ]);
    assert.deepEqual(plan.carried.map((x) => x.jobId + '/' + x.shardIndex), ['job-c/0']);
    assert.deepEqual(plan.forfeited.map((x) => x.jobId + '/' + x.shardIndex), ['job-c/1']);
    // Sorted by lower-cased address: 0x3c44… (BOB), 0x7099… (ALICE), 0x90f7… (CAROL).
    assert.deepEqual(
      plan.earnings.map((e) => [e.account, e.cumulativeAmount, e.epochUnits, e.leafIndex]),
      [
        [BOB, 70n, 7n, 0],
        [ALICE, 1_150n, 15n, 1],
        [CAROL, 50n, 0n, 2],
      ],
    );
    assert.equal(plan.totalCumulative, 1_270n);
    assert.equal(plan.units, 22n);
  });

  it('plans an empty epoch: previous owners stay, nothing new', () => {
    const plan = planEpochClose({ epoch: 3, contributions: [], bindings: new Map(), previous: new Map([[ALICE, 5n]]), weiPerUnit: 1n });
    assert.deepEqual(plan.earnings.map((e) => [e.account, e.cumulativeAmount]), [[ALICE, 5n]]);
    assert.equal(plan.included.length, 0);
    assert.equal(plan.totalCumulative, 5n);
  });

  it('refuses one account in two spellings (the ledger stores checksummed addresses)', () => {
    assert.throws(
      () => planEpochClose({ epoch: 1, contributions: [c('j', 0, 'n', ALICE.toLowerCase(), 1)], bindings: new Map(), previous: new Map([[ALICE, 1n]]), weiPerUnit: 1n }),
      RangeError,
    );
  });

  it('closes on the timer only when the epoch is over and has something to pay', () => {
    assert.equal(decideEpochTimer({ openedAt: 1_000, now: 1_500, epochMs: 1_000, payable: 3 }), 'wait');
    assert.equal(decideEpochTimer({ openedAt: 1_000, now: 2_000, epochMs: 1_000, payable: 3 }), 'close');
    assert.equal(decideEpochTimer({ openedAt: 1_000, now: 2_000, epochMs: 1_000, payable: 0 }), 'roll');
  });
});

describe('posting decisions', () => {
  const ours = { earningsRoot: `0x${'1'.repeat(64)}` as Hex, contributionsRoot: `0x${'2'.repeat(64)}` as Hex };
  const base: PlanPostStepParameters = {
    epoch: 4,
    roots: ours,
    txHash: null,
    sentAt: null,
    chainEpoch: 3,
    chainRoot: null,
    tx: null,
    nonceUsed: false,
    now: 10_000,
    replaceAfterMs: 5_000,
  };
  const hash = `0x${'a'.repeat(64)}` as Hex;

  it('sends when the epoch is next on chain and nothing of ours is in flight', () => {
    assert.deepEqual(planPostStep(base), { action: 'send' });
    assert.deepEqual(planPostStep({ ...base, txHash: hash, sentAt: 9_000, tx: { status: 'unknown' } }), { action: 'send' }, 'a dropped transaction is sent again');
    assert.deepEqual(planPostStep({ ...base, txHash: hash, sentAt: 9_000, tx: { status: 'reverted', blockNumber: 9n, gasUsed: 1n } }), { action: 'send' });
  });

  it('never sends an epoch the chain already has: confirms it, or reports a conflict', () => {
    const onChain = epochRoot(ours.earningsRoot, ours.contributionsRoot);
    assert.deepEqual(planPostStep({ ...base, chainEpoch: 4, chainRoot: onChain, txHash: hash, sentAt: 0, tx: null }), { action: 'confirm' });
    assert.deepEqual(planPostStep({ ...base, chainEpoch: 7, chainRoot: onChain.toUpperCase().replace('0X', '0x') as Hex }), { action: 'confirm' });
    const other = planPostStep({ ...base, chainEpoch: 4, chainRoot: epochRoot(zeroHash, ours.contributionsRoot) });
    assert.equal(other.action, 'conflict');
    assert.equal(planPostStep({ ...base, chainEpoch: 4, chainRoot: epochRoot(ours.earningsRoot, zeroHash) }).action, 'conflict', 'another contributions root');
    assert.equal(planPostStep({ ...base, chainEpoch: 4, chainRoot: null }).action, 'conflict');
  });

  it('waits for a pending transaction, and replaces it once it has been pending too long', () => {
    assert.deepEqual(planPostStep({ ...base, txHash: hash, sentAt: 9_000, tx: { status: 'pending' } }), { action: 'wait', txHash: hash });
    assert.deepEqual(planPostStep({ ...base, txHash: hash, sentAt: 1_000, tx: { status: 'pending' } }), { action: 'replace', txHash: hash });
    assert.deepEqual(planPostStep({ ...base, txHash: hash, sentAt: 9_000, tx: { status: 'pending' }, nonceUsed: true }), { action: 'send' }, 'its nonce was used: it can never be mined');
  });

  it('refuses to skip: an epoch more than one ahead of the chain is a conflict', () => {
    assert.equal(planPostStep({ ...base, chainEpoch: 2 }).action, 'conflict');
  });

  it('reposts from the first epoch the chain lost', () => {
    assert.equal(firstEpochToRepost(null, 0), null);
    assert.equal(firstEpochToRepost(3, 3), null);
    assert.equal(firstEpochToRepost(3, 5), null);
    assert.equal(firstEpochToRepost(3, 0), 1);
    assert.equal(firstEpochToRepost(5, 2), 3);
  });

  it('backs off exponentially up to the cap, within the jitter band', () => {
    const policy = { delayMs: 1_000, factor: 2, jitter: 0.2, maxDelayMs: 10_000 };
    assert.equal(postRetryDelay(policy, 1, () => 0.5), 1_000);
    assert.equal(postRetryDelay(policy, 3, () => 0.5), 4_000);
    assert.equal(postRetryDelay(policy, 3, () => 0), 3_200);
    assert.equal(postRetryDelay(policy, 3, () => 1), 4_800);
    assert.equal(postRetryDelay(policy, 50, () => 0.5), 10_000, 'capped');
  });
});

describe('binding verdicts', () => {
  const body = (owner: string, boundAt: number): BindingBody => ({ owner, boundAt });
  it('is last-writer-wins on boundAt, keeps the first on a tie, and refuses the far future', () => {
    assert.deepEqual(judgeBinding(null, body(ALICE, 100), 1_000, 60_000), { status: 'recorded' });
    assert.deepEqual(judgeBinding({ owner: ALICE, boundAt: 100 }, body(BOB, 200), 1_000, 60_000), { status: 'recorded' });
    assert.deepEqual(judgeBinding({ owner: ALICE, boundAt: 100 }, body(ALICE.toLowerCase(), 100), 1_000, 60_000), { status: 'unchanged' });
    assert.equal(judgeBinding({ owner: ALICE, boundAt: 200 }, body(BOB, 100), 1_000, 60_000).status, 'stale');
    assert.equal(judgeBinding({ owner: ALICE, boundAt: 100 }, body(BOB, 100), 1_000, 60_000).status, 'stale');
    const future = judgeBinding(null, body(ALICE, 1_000 + 60_001), 1_000, 60_000);
    assert.equal(future.status, 'refused');
    assert.match(future.status === 'refused' ? future.reason : '', /in the future/);
  });
});
