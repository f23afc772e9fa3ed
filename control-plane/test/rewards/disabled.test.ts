// `meshchain serve --no-chain`: no devnet, no ledger, and a rewards API that says why.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiClient, ApiError, loadControlPlaneConfig } from '../../src/index.ts';
import { startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';

describe('rewards disabled', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
  });
  after(() => cp.stop());

  it('starts no chain and answers the rewards API with 503 and the reason', async () => {
    const api = new ApiClient(cp.info.apiUrl);
    assert.equal((await api.info()).chain, null);
    assert.equal(cp.lines.some((l) => l.msg === 'devnet started (anvil)'), false);
    await assert.rejects(api.rewardsEpochs(), (e: unknown) => e instanceof ApiError && e.status === 503 && /--no-chain/.test(e.message));
    await assert.rejects(api.closeEpoch(), (e: unknown) => e instanceof ApiError && e.status === 503);
  });

  it('reads the chain settings from the environment, merged with the file and flags', () => {
    const key = `0x${'1'.repeat(64)}`;
    const config = loadControlPlaneConfig({
      env: { MESHCHAIN_CHAIN_RPC_URL: 'http://127.0.0.1:8545', MESHCHAIN_CHAIN_PRIVATE_KEY: key, MESHCHAIN_CHAIN_ENABLED: 'false', MESHCHAIN_REWARDS_EPOCH_MS: '60000' },
      overrides: { chain: { distributor: '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512' } },
    });
    assert.deepEqual(
      [config.chain.enabled, config.chain.rpcUrl, config.chain.privateKey, config.chain.distributor, config.rewards.epochMs, config.rewards.weiPerUnit],
      [false, 'http://127.0.0.1:8545', key, '0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512', 60_000, '1000000000000000'],
    );
    assert.throws(() => loadControlPlaneConfig({ env: { MESHCHAIN_CHAIN_RPC_URL: 'http://127.0.0.1:8545' } }), /needs chain.privateKey/);
    assert.throws(() => loadControlPlaneConfig({ env: {}, overrides: { chain: { distributor: '0xE7f1725E7734CE288F8367e1Bb143E90bb3F0512' } } }), /EIP-55/);
  });
});
