// `meshchain serve` as a real process, SIGKILLed right after it sent an epoch's post: no double post, no skip.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import type { Hex } from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { startAnvil, type StartAnvilReturnType } from '@meshchain/contracts';
import { ApiClient } from '../../src/index.ts';
import { BindingStore } from '../../src/rewards/bindings.ts';
import { Ledger } from '../../src/rewards/ledger.ts';
import { openDatabase } from '../../src/store/db.ts';
import { acceptedShard, chainReader, deployFresh, postedEvents, testNode, waitUntil } from './helpers.ts';

const CLI = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const ALICE = '0x70997970C51812dc3A010C7d01b50e0d17dc79C8';

interface Served {
  child: ChildProcess;
  api: ApiClient;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr: string[];
}

/** Starts `meshchain serve --json` and resolves once it printed its ready line. */
async function serve(dataDir: string, env: NodeJS.ProcessEnv): Promise<Served> {
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'serve', '--json', '--data-dir', dataDir, '--api-port', '0', '--mqtt-port', '0'], {
    env: { ...process.env, MESHCHAIN_LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  createInterface({ input: child.stderr as NodeJS.ReadableStream }).on('line', (line) => stderr.push(line));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  const ready = await new Promise<{ apiUrl: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ready line within 60 s\n${stderr.slice(-20).join('\n')}`)), 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      try {
        const event = JSON.parse(line) as { event?: string; apiUrl: string };
        if (event.event === 'ready') {
          clearTimeout(timer);
          resolve(event);
        }
      } catch {
        // not a JSON line
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${code ?? signal}) before ready\n${stderr.slice(-20).join('\n')}`));
    });
  });
  return { child, api: new ApiClient(ready.apiUrl), exited, stderr };
}

describe('a control plane killed mid-post', () => {
  let anvil: StartAnvilReturnType;
  let dir = '';
  const children: ChildProcess[] = [];

  before(async () => {
    anvil = await startAnvil();
    dir = await mkdtemp(join(tmpdir(), 'meshchain-rewards-crash-'));
  });
  after(async () => {
    for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await anvil.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('neither posts the epoch twice nor skips the next one after a SIGKILL between send and record', async () => {
    const batcherKey = anvil.accounts[0] as Hex;
    const { distributor } = await deployFresh(anvil.rpcUrl, anvil.chainId, batcherKey);
    const chainEnv = { MESHCHAIN_CHAIN_RPC_URL: anvil.rpcUrl, MESHCHAIN_CHAIN_PRIVATE_KEY: batcherKey, MESHCHAIN_CHAIN_DISTRIBUTOR: distributor };
    const reader = chainReader(anvil.rpcUrl);
    const batcher = privateKeyToAccount(batcherKey).address;
    const nonceBefore = await reader.getTransactionCount({ address: batcher });

    // The ledger already holds a bound node's accepted shard when the control plane starts.
    const dataDir = join(dir, 'cp');
    const seed = openDatabase(join(dataDir, 'control-plane.db'));
    const node = testNode();
    new BindingStore(seed).record(node.id, node.binding(ALICE), { maxSkewMs: 60_000 });
    new Ledger(seed, { modelCostFactors: {} }).recordContribution(acceptedShard('job', 0, node.id, 10));
    seed.close();

    const doomed = await serve(dataDir, { ...chainEnv, MESHCHAIN_FAULT: 'crash-after-post-sent' });
    children.push(doomed.child);
    const closed = await doomed.api.closeEpoch();
    assert.equal(closed.epoch, 1);
    assert.equal((await doomed.exited).signal, 'SIGKILL', 'the fault hook killed the control plane right after sending');

    await waitUntil(async () => (await postedEvents(reader, distributor)).length === 1, 10_000, 'the sent post to be mined');
    const db = new Database(join(dataDir, 'control-plane.db'), { readonly: true });
    const row = db.prepare('SELECT state, tx_hash FROM reward_epochs WHERE epoch = 1').get() as { state: string; tx_hash: string };
    db.close();
    assert.equal(row.state, 'posting', 'the transaction was recorded before it was sent, the outcome never');
    const [event] = await postedEvents(reader, distributor);
    assert.equal(event?.txHash, row.tx_hash, 'the recorded hash is the transaction on chain');

    const revived = await serve(dataDir, chainEnv);
    children.push(revived.child);
    await waitUntil(async () => (await revived.api.rewardsEpochs()).epochs[0]?.state === 'posted', 20_000, 'epoch 1 reconciled as posted');
    const epoch1 = (await revived.api.rewardsEpochs()).epochs[0];
    assert.equal(epoch1?.txHash, row.tx_hash);
    assert.ok((epoch1?.gasUsed ?? 0) > 0, 'gas read back from the receipt');
    assert.ok(revived.stderr.some((l) => l.includes('epoch found on chain')), 'reconciled with the chain, not sent again');

    const next = await revived.api.closeEpoch();
    assert.equal(next.epoch, 2);
    await waitUntil(async () => (await revived.api.rewardsEpochs()).epochs[1]?.state === 'posted', 20_000, 'epoch 2 posted');
    assert.deepEqual((await postedEvents(reader, distributor)).map((e) => e.epoch), [1, 2], 'each epoch once, none skipped');
    assert.equal(await reader.getTransactionCount({ address: batcher }), nonceBefore + 2, 'two post transactions in all');
    const owner = await revived.api.rewardsOwner(ALICE);
    assert.equal(owner.cumulativePosted, (15n * 10n ** 15n).toString());

    revived.child.kill('SIGTERM');
    assert.equal((await revived.exited).code, 0, 'a clean shutdown');
  });
});
