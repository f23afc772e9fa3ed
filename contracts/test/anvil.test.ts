import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AnvilStartError, startAnvil } from '../src/index.ts';

async function rpc(rpcUrl: string, method: string): Promise<unknown> {
  const response = await fetch(rpcUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params: [] }),
  });
  const body = (await response.json()) as { result: unknown };
  return body.result;
}

describe('startAnvil', () => {
  it('starts two devnets on free ports and stops them', async () => {
    const [one, two] = await Promise.all([startAnvil({ accounts: 3 }), startAnvil({ accounts: 3 })]);
    try {
      assert.notEqual(one.rpcUrl, two.rpcUrl);
      assert.equal(one.chainId, 31337);
      assert.equal(await rpc(one.rpcUrl, 'eth_blockNumber'), '0x0');
      assert.equal(one.accounts.length, 3);
      assert.deepEqual(one.accounts, two.accounts, 'same deterministic keys');
      assert.equal(one.accounts[0], '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80');
      // The keys are those of the accounts anvil funded.
      assert.deepEqual(await rpc(one.rpcUrl, 'eth_accounts'), [
        '0xf39fd6e51aad88f6f4ce6ab8827279cfffb92266',
        '0x70997970c51812dc3a010c7d01b50e0d17dc79c8',
        '0x3c44cdddb6a900fa2b585dd299e03d12fa4293bc',
      ]);
    } finally {
      await Promise.all([one.stop(), two.stop()]);
    }
    await assert.rejects(rpc(one.rpcUrl, 'eth_blockNumber'), 'stopped anvil no longer answers');
    await one.stop(); // a second stop is harmless
  });

  it('fails clearly when the binary cannot run', async () => {
    await assert.rejects(startAnvil({ binary: '/nonexistent/anvil' }), (error: unknown) => {
      assert.ok(error instanceof AnvilStartError);
      assert.match(error.shortMessage, /could not run anvil/);
      return true;
    });
  });

  it('fails clearly when anvil exits at start (port taken)', async () => {
    const first = await startAnvil({ accounts: 1 });
    try {
      const port = Number(new URL(first.rpcUrl).port);
      await assert.rejects(startAnvil({ port, accounts: 1 }), (error: unknown) => {
        assert.ok(error instanceof AnvilStartError);
        assert.match(error.shortMessage, /exited before listening/);
        return true;
      });
    } finally {
      await first.stop();
    }
  });
});
