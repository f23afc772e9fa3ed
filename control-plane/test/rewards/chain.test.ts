// The rewards service on a real anvil: ledger → trees → postEpoch → claims, an RPC outage, and a devnet restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { privateKeyToAccount } from 'viem/accounts';
import { createTestClient, createWalletClient, http, type Address, type Hex } from 'viem';
import { epochRoot, mcpTokenAbi, startAnvil, type StartAnvilReturnType } from '@meshchain/contracts';
import { rewardIdHash } from '@meshchain/protocol';
import { sendClaim } from '../../src/chain/claim.ts';
import { chainFor } from '../../src/chain/deployment.ts';
import { DistributorClient } from '../../src/chain/distributor.ts';
import { loadControlPlaneConfig, type ControlPlaneConfigInput } from '../../src/config.ts';
import { RewardsService } from '../../src/rewards/service.ts';
import { openDatabase, type Db } from '../../src/store/db.ts';
import { capturingLogger } from '../helpers/harness.ts';
import { acceptedShard, chainReader, deployFresh, postedEvents, RpcProxy, testNode, waitUntil } from './helpers.ts';

const FAST_RETRY = { delayMs: 50, factor: 2, jitter: 0.2, maxDelayMs: 200 };

interface Harness {
  service: RewardsService;
  db: Db;
  lines: ReturnType<typeof capturingLogger>['lines'];
  stop(): Promise<void>;
}

async function startService(t: TestContext, dataDir: string, chain: ControlPlaneConfigInput['chain']): Promise<Harness> {
  const config = loadControlPlaneConfig({ env: {}, overrides: { dataDir, chain, rewards: { weiPerUnit: '1000', retry: FAST_RETRY } } });
  const db = openDatabase(join(config.dataDir, 'control-plane.db'));
  const { logger, lines } = capturingLogger();
  const service = new RewardsService({ db, dataDir: config.dataDir, chain: config.chain, rewards: config.rewards, maxSkewMs: 60_000, logger });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await service.stop();
    db.close();
  };
  t.after(stop);
  await service.start();
  return { service, db, lines, stop };
}

const posted = (service: RewardsService, epoch: number): boolean => service.ledger.epoch(epoch)?.state === 'posted';

describe('rewards on a real chain', () => {
  let anvil: StartAnvilReturnType;
  let dir = '';
  let batcherKey: Hex;
  const owners = [1, 2, 3].map((i) => ({ key: '' as Hex, address: '' as Address, index: i }));

  before(async () => {
    anvil = await startAnvil();
    dir = await mkdtemp(join(tmpdir(), 'meshchain-rewards-chain-'));
    batcherKey = anvil.accounts[0] as Hex;
    for (const owner of owners) {
      owner.key = anvil.accounts[owner.index] as Hex;
      owner.address = privateKeyToAccount(owner.key).address;
    }
  });
  after(async () => {
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('pays owners exactly what the ledger says: TypeScript trees, postEpoch, contribution proofs and claims on chain', async (t) => {
    const { distributor, token } = await deployFresh(anvil.rpcUrl, anvil.chainId, batcherKey);
    const { service } = await startService(t, join(dir, 'pay'), { rpcUrl: anvil.rpcUrl, privateKey: batcherKey, distributor });
    const [alice, bob, carol] = owners as [(typeof owners)[0], (typeof owners)[0], (typeof owners)[0]];
    const [n1, n2, n3] = [testNode(), testNode(), testNode()];
    service.recordBinding(n1.id, n1.binding(alice.address));
    service.recordBinding(n2.id, n2.binding(bob.address));
    service.recordBinding(n3.id, n3.binding(carol.address));

    service.ledger.recordContribution(acceptedShard('job-1', 0, n1.id, 20)); // 25 units
    service.ledger.recordContribution(acceptedShard('job-1', 1, n2.id, 10)); // 15
    service.ledger.recordContribution(acceptedShard('job-1', 2, n1.id, 5)); // 10
    service.ledger.recordContribution(acceptedShard('job-1', 3, n3.id, 1)); // 6, forfeited below
    service.ledger.forfeitContributions({ nodeId: n3.id, reason: 'failed validation' });
    const e1 = service.closeEpoch();
    await waitUntil(() => posted(service, 1), 20_000, 'epoch 1 posted');

    const client = new DistributorClient({ rpcUrl: anvil.rpcUrl, privateKey: null, distributor });
    assert.equal(await client.currentEpoch(), 1);
    assert.ok(e1.earningsRoot && e1.contributionsRoot);
    assert.equal(await client.epochRoot(1), epochRoot(e1.earningsRoot, e1.contributionsRoot));
    const postGas = service.ledger.epoch(1)?.gasUsed ?? 0;
    t.diagnostic(`postEpoch gas (epoch 1, first writes): ${postGas}`);

    // Every paid contribution proves itself on chain, exactly as the API hands it out.
    for (const shardIndex of [0, 1, 2]) {
      const proof = service.contributionProof('job-1', shardIndex);
      assert.equal(proof.leaf.jobId, rewardIdHash('job-1'));
      assert.ok(await client.verifyContribution({ epoch: 1, ...proof.leaf, units: BigInt(proof.leaf.units), proof: proof.proof }), `shard ${shardIndex}`);
    }
    assert.throws(() => service.contributionProof('job-1', 3), /forfeited/);

    const aliceView = await service.owner(alice.address.toLowerCase());
    assert.deepEqual([aliceView.cumulativePosted, aliceView.claimable, aliceView.claimedOnChain], ['35000', '35000', '0']);
    assert.equal((await service.owner(carol.address)).cumulativePosted, '0', 'forfeited work pays nothing');
    const claim = aliceView.claim;
    assert.ok(claim);
    // Bob relays Alice's claim: anyone may send it, the MCP goes to Alice.
    const first = await sendClaim({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, privateKey: bob.key, distributor, account: alice.address, cumulativeAmount: BigInt(claim.cumulativeAmount), proof: claim.proof });
    assert.equal(first.amount, 35_000n);
    t.diagnostic(`claim gas (first claim on the contract, depth ${claim.proof.length}): ${first.gasUsed}`);
    const reader = chainReader(anvil.rpcUrl);
    const balanceOf = (a: Address): Promise<bigint> => reader.readContract({ address: token, abi: mcpTokenAbi, functionName: 'balanceOf', args: [a] });
    assert.equal(await balanceOf(alice.address), 35_000n);

    // Alice spends her MCP: the claimed total (kept by the token beside her balance) does not move with it.
    const aliceWallet = createWalletClient({ chain: chainFor(anvil.chainId, anvil.rpcUrl), transport: http(anvil.rpcUrl), account: privateKeyToAccount(alice.key) });
    await reader.waitForTransactionReceipt({
      hash: await aliceWallet.writeContract({ address: token, abi: mcpTokenAbi, functionName: 'transfer', args: [carol.address, 35_000n] }),
    });
    const spent = await service.owner(alice.address);
    assert.deepEqual([spent.balance, spent.claimedOnChain, spent.claimable], ['0', '35000', '0']);

    // Epoch 2: more work; cumulative trees pay only the difference.
    service.ledger.recordContribution(acceptedShard('job-2', 0, n1.id, 45)); // 50 units
    service.ledger.recordContribution(acceptedShard('job-2', 1, n2.id, 0)); // 5
    service.closeEpoch();
    await waitUntil(() => posted(service, 2), 20_000, 'epoch 2 posted');
    t.diagnostic(`postEpoch gas (epoch 2): ${service.ledger.epoch(2)?.gasUsed ?? 0}`);
    const again = await service.owner(alice.address);
    assert.deepEqual([again.latestPostedEpoch, again.cumulativePosted, again.claimedOnChain, again.claimable], [2, '85000', '35000', '50000']);
    const second = await sendClaim({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, privateKey: alice.key, distributor, account: alice.address, cumulativeAmount: 85_000n, proof: again.claim?.proof ?? [] });
    assert.equal(second.amount, 50_000n);
    t.diagnostic(`claim gas (owner's second claim): ${second.gasUsed}`);
    const bobView = await service.owner(bob.address);
    assert.equal(bobView.cumulativePosted, '20000', 'bob skipped epoch 1 and claims both at once');
    const bobClaim = await sendClaim({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId, privateKey: bob.key, distributor, account: bob.address, cumulativeAmount: 20_000n, proof: bobView.claim?.proof ?? [] });
    assert.equal(bobClaim.amount, 20_000n);
    assert.equal(await balanceOf(alice.address), 50_000n, 'alice was paid 35,000 + 50,000 and spent 35,000');
    assert.equal(await balanceOf(carol.address), 35_000n);
    assert.equal(await client.claimed(alice.address), 85_000n);
    assert.deepEqual((await postedEvents(reader, distributor)).map((e) => e.epoch), [1, 2]);
  });

  it('posts an epoch closed while the RPC is down exactly once when it comes back, and queued epochs in order', async (t) => {
    const { distributor } = await deployFresh(anvil.rpcUrl, anvil.chainId, batcherKey);
    const proxy = new RpcProxy(anvil.rpcUrl);
    await proxy.up();
    t.after(() => proxy.down());
    const { service, lines } = await startService(t, join(dir, 'outage'), { rpcUrl: proxy.url, privateKey: batcherKey, distributor });
    const n1 = testNode();
    service.recordBinding(n1.id, n1.binding(owners[0]?.address ?? ''));
    const reader = chainReader(anvil.rpcUrl);
    const batcher = privateKeyToAccount(batcherKey).address;
    const nonceBefore = await reader.getTransactionCount({ address: batcher });

    await proxy.down();
    service.ledger.recordContribution(acceptedShard('job', 0, n1.id, 10));
    service.closeEpoch();
    await waitUntil(() => (service.ledger.epoch(1)?.attempts ?? 0) >= 3, 10_000, 'three failed attempts at epoch 1');
    service.ledger.recordContribution(acceptedShard('job', 1, n1.id, 10));
    service.closeEpoch();
    const waiting = service.epochs();
    assert.deepEqual(waiting.epochs.map((e) => e.state), ['closed', 'closed', 'open'], 'nothing posted, nothing skipped');
    assert.equal(waiting.poster.state, 'retrying');
    assert.match(waiting.epochs[0]?.lastError ?? '', /fetch failed|ECONNREFUSED|HTTP request failed/i);
    assert.ok(lines.some((l) => l.msg === 'posting failed; will retry'), 'each failure is logged');

    await proxy.up();
    await waitUntil(() => posted(service, 2), 20_000, 'epochs 1 and 2 posted after the RPC came back');
    const events = await postedEvents(reader, distributor);
    assert.deepEqual(events.map((e) => e.epoch), [1, 2], 'each epoch posted exactly once, in order');
    assert.deepEqual(events.map((e) => e.txHash), [service.ledger.epoch(1)?.txHash, service.ledger.epoch(2)?.txHash]);
    assert.equal(await reader.getTransactionCount({ address: batcher }), nonceBefore + 2, 'two transactions in all');
  });

  it('replaces a post stuck in the mempool with the same nonce, and records the transaction that made it', async (t) => {
    const { distributor } = await deployFresh(anvil.rpcUrl, anvil.chainId, batcherKey);
    const { service, lines } = await startService(t, join(dir, 'stuck'), { rpcUrl: anvil.rpcUrl, privateKey: batcherKey, distributor, receiptTimeoutMs: 300, pollingIntervalMs: 20 });
    const testClient = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) });
    const reader = chainReader(anvil.rpcUrl);
    const batcher = privateKeyToAccount(batcherKey).address;
    const nonceBefore = await reader.getTransactionCount({ address: batcher });
    const n1 = testNode();
    service.recordBinding(n1.id, n1.binding(owners[0]?.address ?? ''));
    service.ledger.recordContribution(acceptedShard('job', 0, n1.id, 10));

    await testClient.setAutomine(false);
    t.after(() => testClient.setAutomine(true));
    service.closeEpoch();
    await waitUntil(() => service.ledger.epoch(1)?.txHash != null, 10_000, 'the first post to be sent');
    const firstHash = service.ledger.epoch(1)?.txHash;
    await waitUntil(() => service.ledger.epoch(1)?.txHash !== firstHash, 10_000, 'a replacement after the receipt timeout');
    assert.equal(service.ledger.epoch(1)?.txNonce, nonceBefore, 'the replacement reuses the nonce');
    await testClient.mine({ blocks: 1 });
    await waitUntil(() => posted(service, 1), 10_000, 'epoch 1 posted');

    const events = await postedEvents(reader, distributor);
    assert.deepEqual(events.map((e) => e.epoch), [1], 'posted once');
    assert.notEqual(events[0]?.txHash, firstHash, 'the stuck transaction was replaced, not mined');
    assert.equal(service.ledger.epoch(1)?.txHash, events[0]?.txHash, 'the ledger names the transaction that posted');
    assert.equal(await reader.getTransactionCount({ address: batcher }), nonceBefore + 1, 'one nonce used');
    assert.ok(lines.some((l) => l.msg === 'posting epoch' && l.replaces === firstHash), 'logged as a replacement');
  });

  it('redeploys on a devnet that restarted empty and posts every epoch again, in order', async (t) => {
    const dataDir = join(dir, 'devnet');
    const first = await startService(t, dataDir, {});
    const info1 = first.service.chainInfo;
    assert.ok(info1?.devnet && info1.token);
    const n1 = testNode();
    const alice = owners[0] as (typeof owners)[0];
    first.service.recordBinding(n1.id, n1.binding(alice.address));
    first.service.ledger.recordContribution(acceptedShard('job', 0, n1.id, 10));
    const closed = first.service.closeEpoch();
    await waitUntil(() => posted(first.service, 1), 20_000, 'epoch 1 posted on the first devnet');
    await first.stop(); // anvil stops: its chain is gone

    const second = await startService(t, dataDir, {});
    const info2 = second.service.chainInfo;
    assert.equal(info2?.rpcUrl, info1.rpcUrl, 'the devnet comes back on the same port');
    assert.ok(second.lines.some((l) => l.msg === 'deployed the reward contracts'), 'the empty chain was detected and the contracts deployed again');
    await waitUntil(
      () => second.lines.some((l) => l.msg === 'epoch posted') && posted(second.service, 1),
      20_000,
      'epoch 1 posted again on the new devnet',
    );
    const client = new DistributorClient({ rpcUrl: info2?.rpcUrl ?? '', privateKey: null, distributor: info2?.distributor ?? alice.address });
    assert.equal(await client.currentEpoch(), 1);
    assert.ok(closed.earningsRoot && closed.contributionsRoot);
    assert.equal(await client.epochRoot(1), epochRoot(closed.earningsRoot, closed.contributionsRoot));
    const view = await second.service.owner(alice.address);
    const claimed = await sendClaim({
      rpcUrl: info2?.rpcUrl ?? '',
      chainId: info2?.chainId ?? 0,
      privateKey: alice.key,
      distributor: info2?.distributor ?? alice.address,
      account: alice.address,
      cumulativeAmount: BigInt(view.cumulativePosted),
      proof: view.proof ?? [],
    });
    assert.equal(claimed.amount, 15_000n);
  });
});
