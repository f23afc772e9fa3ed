/**
 * gas: what rewards cost on chain, and what building an epoch costs the control plane. Gas from
 * transaction receipts on a local anvil (deploy, the one post per epoch, claims at tree depths 10/14/20,
 * first and repeat), compared with paying the same owners by batch ERC-20 mints/transfers; and the time
 * the control plane's Ledger takes to close an epoch of 10,000 owners (both trees, stored) and to hand
 * out every owner's claim proof.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { getAddress, keccak256, numberToHex } from 'viem';
import { generateSeed, NodeCryptoSigner, sealMessage } from '@meshchain/protocol';
import { gasOf, measureRewardsGas, type GasRow } from '../../../contracts/src/bench/measure.ts';
import type { AcceptedShard } from '../../../control-plane/src/intake/result-intake.ts';
import { BindingStore } from '../../../control-plane/src/rewards/bindings.ts';
import { Ledger } from '../../../control-plane/src/rewards/ledger.ts';
import { openDatabase } from '../../../control-plane/src/store/db.ts';
import type { BenchOptions, Benchmark, Reporter } from './harness.ts';

const DEPTHS = [10, 14, 20] as const;
const BATCH_SIZES = [100, 200] as const;
const EXTRAPOLATE_TO = 10_000;
const WEI_PER_UNIT = 10n ** 15n;
const MODEL = 'e'.repeat(64);

function shard(jobId: string, nodeId: string, tokens: number): AcceptedShard {
  return {
    jobId,
    shardIndex: 0,
    nodeId,
    modelSha256: MODEL,
    inputs: [{ index: 0, prompt: 'abc' }],
    result: {
      jobId,
      shardId: `${jobId}.0`,
      leaseId: 'lease',
      modelSha256: MODEL,
      inputHash: 'f'.repeat(64),
      outputs: [{ index: 0, tokens: Array.from({ length: tokens }, (_, i) => i % 100), text: '', finishReason: 'length' }],
      stats: { promptTokens: 3, generatedTokens: tokens, computeMs: 1 },
    },
    resultId: `r-${jobId}`,
  };
}

/**
 * One run of the control plane's epoch path for `owners` owners, each with one bound node and one
 * accepted shard: the time of `Ledger.closeEpoch` (plan, both StandardMerkleTrees, dumps and every
 * owner's cumulative stored in one SQLite transaction) and of producing every owner's claim proof
 * (tree loaded from its stored dump, then one proof per owner, as the API does).
 */
async function epochBuild(owners: number): Promise<{ closeMs: number; loadMs: number; proofsMs: number; depth: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshchain-bench-gas-'));
  const db = openDatabase(join(dir, 'cp.db'));
  try {
    const ledger = new Ledger(db, { modelCostFactors: {} });
    const bindings = new BindingStore(db);
    const signer = new NodeCryptoSigner(generateSeed());
    const addresses = Array.from({ length: owners }, (_, i) => getAddress(`0x${keccak256(numberToHex(i + 1, { size: 32 })).slice(-40)}`));
    const boundAt = Date.now();
    db.transaction(() => {
      for (const [i, owner] of addresses.entries()) {
        const nodeId = `node-${i}`;
        // BindingStore records a binding the intake has already verified; one signer stands for every node here.
        bindings.record(nodeId, sealMessage('binding', { owner, boundAt }, signer), { maxSkewMs: 60_000 });
        ledger.recordContribution(shard(`job-${i}`, nodeId, 1 + (i % 50)));
      }
    })();

    const closeStarted = performance.now();
    const closed = ledger.closeEpoch(WEI_PER_UNIT);
    const closeMs = performance.now() - closeStarted;

    const loadStarted = performance.now();
    const tree = ledger.earningsTree(closed.epoch);
    if (!tree) throw new Error('no earnings tree stored');
    const loadMs = performance.now() - loadStarted;
    const proofsStarted = performance.now();
    let depth = 0;
    for (const owner of addresses) {
      const earned = ledger.earningsOf(owner, closed.epoch);
      if (!earned) throw new Error(`owner ${owner} is not in the tree`);
      depth = Math.max(depth, tree.getProof(earned.leafIndex).length);
    }
    const proofsMs = performance.now() - proofsStarted;
    return { closeMs, loadMs, proofsMs, depth };
  } finally {
    db.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function reportGas(report: Reporter, rows: readonly GasRow[], key: string, name: string, note?: string): number {
  const gas = Number(gasOf(rows, key));
  report.figure(name, 'gas', [gas], note);
  return gas;
}

async function run(options: BenchOptions, report: Reporter): Promise<void> {
  const owners = options.quick ? 2_000 : EXTRAPOLATE_TO;
  const reps = options.quick ? 1 : 3;
  report.method(
    'gas: receipts on a local anvil (includes the 21,000 base cost and calldata), solc 0.8.37 optimizer 200, cancun; one run (gas is deterministic)',
  );
  report.method(
    `claims at depth d: an earnings tree of 2^d owners whose other subtrees are random hashes (gas depends on the proof only), proof = d siblings + the contributions root; the very first claim on fresh contracts at depth ${Math.max(...DEPTHS)}; plus a real StandardMerkleTree of ${EXTRAPOLATE_TO.toLocaleString('en-US')} owners`,
  );
  report.method(
    `baseline: a BatchPayer contract minting (MINTER_ROLE) or transferFrom-ing MCP to N new addresses in one transaction, N = ${BATCH_SIZES.join(', ')}; ${EXTRAPOLATE_TO.toLocaleString('en-US')} extrapolated as fixed + N × marginal, marginal = (gas(${BATCH_SIZES[1]}) − gas(${BATCH_SIZES[0]})) / ${BATCH_SIZES[1] - BATCH_SIZES[0]}`,
  );
  report.method(
    `epoch build: the control plane's Ledger on SQLite (temp dir), ${owners.toLocaleString('en-US')} owners with one bound node and one shard each; closeEpoch timed (plan + both trees + dumps + cumulatives, one transaction), then the stored earnings tree loaded and every owner's claim proof (earningsOf + getProof); ${reps} run(s), fresh database each`,
  );

  const { rows, blockGasLimit } = await measureRewardsGas({ depths: DEPTHS, batchSizes: BATCH_SIZES, realTreeOwners: EXTRAPOLATE_TO });
  if (options.signal.aborted) return;

  reportGas(report, rows, 'deploy.token', 'deploy MCPToken');
  reportGas(report, rows, 'deploy.distributor', 'deploy RewardDistributor');
  const deployAll =
    Number(gasOf(rows, 'deploy.token')) + Number(gasOf(rows, 'deploy.distributor')) + Number(gasOf(rows, 'deploy.grantDistributor')) + Number(gasOf(rows, 'deploy.grantBatcher'));
  report.figure('deployment in all (2 deploys + 2 role grants)', 'gas', [deployAll]);
  const posts = rows.filter((r) => r.key.startsWith('post.')).map((r) => Number(r.gas));
  reportGas(report, rows, 'post.e1', 'postEpoch, the first epoch');
  report.figure('postEpoch, every epoch measured (2^10 … 2^20 owners, real tree)', 'gas', posts, 'goal ≤ 60,000 whatever the number of owners');
  const deepest = Math.max(...DEPTHS);
  reportGas(report, rows, `claim.veryFirst.d${deepest}`, `claim, very first on the contracts (depth ${deepest})`, 'goal ≤ 90,000');
  for (const depth of DEPTHS) {
    reportGas(report, rows, `claim.first.d${depth}`, `claim, owner's first claim, depth ${depth}`, 'goal ≤ 90,000');
    reportGas(report, rows, `claim.repeat.d${depth}`, `claim, repeat claim, depth ${depth}`, 'goal ≤ 90,000');
  }
  const realDepth = /depth (\d+)/.exec(rows.find((r) => r.key === 'claim.first.real')?.label ?? '')?.[1] ?? '?';
  reportGas(report, rows, 'claim.first.real', `claim, first, real ${EXTRAPOLATE_TO.toLocaleString('en-US')}-owner tree`, `depth ${realDepth}`);

  const [small, large] = BATCH_SIZES;
  const single = reportGas(report, rows, 'single.transfer.new', 'one transfer to a new address, own transaction');
  for (const kind of ['mint.new', 'transfer.new', 'mint.again'] as const) {
    const a = Number(gasOf(rows, `batch.${kind}.n${small}`));
    const b = Number(gasOf(rows, `batch.${kind}.n${large}`));
    const marginal = (b - a) / (large - small);
    const fixed = a - small * marginal;
    const what = kind === 'mint.new' ? 'batch mint, new addresses' : kind === 'transfer.new' ? 'batch transferFrom, new addresses' : 'batch mint, same addresses again';
    report.figure(`${what}: N = ${small}, one transaction`, 'gas', [a], `${Math.round(a / small).toLocaleString('en-US')} per owner`);
    report.figure(`${what}: per owner (marginal)`, 'gas', [marginal]);
    const perTx = Math.floor((Number(blockGasLimit) - fixed) / marginal);
    const txs = Math.ceil(EXTRAPOLATE_TO / perTx);
    report.figure(
      `${what}: N = ${EXTRAPOLATE_TO.toLocaleString('en-US')} (extrapolated)`,
      'gas',
      [txs * fixed + EXTRAPOLATE_TO * marginal],
      `${txs} transactions of ≤ ${perTx.toLocaleString('en-US')} owners under the ${blockGasLimit.toLocaleString('en-US')} block gas limit`,
    );
  }
  report.figure(`separate transfers: N = ${EXTRAPOLATE_TO.toLocaleString('en-US')} (extrapolated)`, 'gas', [single * EXTRAPOLATE_TO], `${EXTRAPOLATE_TO.toLocaleString('en-US')} transactions`);
  const post = Number(gasOf(rows, 'post.real'));
  report.note(
    `Merkle: the operator pays one post per epoch (${post.toLocaleString('en-US')} gas for ${EXTRAPOLATE_TO.toLocaleString('en-US')} owners, ${(post / EXTRAPOLATE_TO).toFixed(1)} per owner); each owner pays its own claim only when it claims (first ${Number(gasOf(rows, 'claim.first.d14')).toLocaleString('en-US')}, later ${Number(gasOf(rows, 'claim.repeat.d14')).toLocaleString('en-US')} at depth 14) and may claim many epochs at once`,
  );

  const close: number[] = [];
  const loads: number[] = [];
  const proofs: number[] = [];
  let depth = 0;
  for (let rep = 0; rep < reps && !options.signal.aborted; rep++) {
    const r = await epochBuild(owners);
    close.push(r.closeMs);
    loads.push(r.loadMs);
    proofs.push(r.proofsMs);
    depth = r.depth;
  }
  report.figure(`epoch build, ${owners.toLocaleString('en-US')} owners: Ledger.closeEpoch`, 'ms', close, 'plan + earnings and contributions trees + dumps + cumulatives, one SQLite transaction');
  report.figure(`epoch build, ${owners.toLocaleString('en-US')} owners: load the stored earnings tree`, 'ms', loads, 'StandardMerkleTree.load of the dump, once per epoch (cached)');
  report.figure(`epoch build, ${owners.toLocaleString('en-US')} owners: every owner's claim proof`, 'ms', proofs, `earningsOf + getProof per owner, max depth ${depth}`);
}

export const gasBenchmark: Benchmark = {
  name: 'gas',
  title: 'rewards on chain: gas of deploy, post and claims vs batch transfers; building a 10,000-owner epoch',
  run,
};
