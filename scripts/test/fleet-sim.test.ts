import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { ApiClient } from '@meshchain/control-plane';
import { startControlPlane, type RunningControlPlane } from '../../control-plane/test/helpers/harness.ts';
import { FleetSimulator } from '../src/fleet/simulator.ts';
import { runSyntheticJob } from '../src/fleet/synthetic-job.ts';

/** Waits for a condition, polling; fails with `what` after `timeoutMs`. */
async function waitFor(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Accepted results per shard of a job, straight from the control plane's database. */
function acceptedPerShard(cp: RunningControlPlane, jobId: string): Map<string, number> {
  const db = new Database(join(cp.dir, 'control-plane.db'), { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare(`SELECT shard_id AS shardId, COUNT(*) AS n FROM results WHERE job_id = ? AND verdict = 'accepted' GROUP BY shard_id`).all(jobId) as {
      shardId: string;
      n: number;
    }[];
    return new Map(rows.map((r) => [r.shardId, r.n]));
  } finally {
    db.close();
  }
}

describe('fleet simulator', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  const fleets: FleetSimulator[] = [];

  before(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
    api = new ApiClient(cp.info.apiUrl);
  });
  after(async () => {
    await Promise.all(fleets.map((f) => f.stop()));
    await cp?.stop();
  });

  it('runs a synthetic job over 50 simulated nodes with every shard counted exactly once', async () => {
    const fleet = new FleetSimulator({ url: cp.info.mqttUrl, controlPlaneId: cp.info.controlPlaneId, nodes: 50, seed: 'fleet-test-a' });
    fleets.push(fleet);
    await fleet.start();
    await waitFor(async () => (await api.nodes()).filter((n) => n.presence === 'online' && n.capabilities).length === 50, '50 nodes online');

    const figures = await runSyntheticJob(api, fleet, { shards: 300, itemsPerShard: 2, sleepMs: 0, units: 3, timeoutMs: 60_000 });
    assert.equal(figures.state, 'completed');
    assert.equal(figures.shards, 300);
    await waitFor(() => fleet.stats().unacknowledged === 0, 'every result acknowledged');

    const counted = acceptedPerShard(cp, figures.jobId);
    assert.equal(counted.size, 300, 'every shard has an accepted result');
    assert.deepEqual([...new Set(counted.values())], [1], 'and exactly one');
    const stats = fleet.stats();
    assert.equal(stats.acks.accepted, 300);
    assert.equal(stats.acks.rejected, 0);
    // Work was spread over the fleet, each node under its own identity.
    const busy = (await api.nodes()).filter((n) => n.shardsCompleted > 0);
    assert.ok(busy.length >= 25, `only ${busy.length} of 50 nodes did work`);

    const lines = (await api.resultText(figures.jobId)).trim().split('\n').map((l) => JSON.parse(l) as { index: number; echo: string; units: number });
    assert.equal(lines.length, 600);
    lines.forEach((line, i) => assert.deepEqual(line, { index: i, echo: `item ${i}`, units: 3 }));
    await fleet.stop();
  });

  it('completes a job through churn and slow results without counting a shard twice', async () => {
    const fleet = new FleetSimulator({
      url: cp.info.mqttUrl,
      controlPlaneId: cp.info.controlPlaneId,
      nodes: 30,
      seed: 'fleet-test-b',
      resultLatencyMs: [0, 30],
      churn: { dropsPerSecond: 20, downMs: 200 },
    });
    fleets.push(fleet);
    await fleet.start();
    await waitFor(() => fleet.stats().drops > 0, 'churn to drop a node');
    const figures = await runSyntheticJob(api, fleet, { shards: 200, itemsPerShard: 1, sleepMs: 20, timeoutMs: 120_000 });
    assert.equal(figures.state, 'completed');

    const counted = acceptedPerShard(cp, figures.jobId);
    assert.equal(counted.size, 200);
    assert.deepEqual([...new Set(counted.values())], [1]);
    const lines = (await api.resultText(figures.jobId)).trim().split('\n');
    assert.equal(lines.length, 200);
  });
});
