import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import {
  encodeMessage,
  generateSeed,
  NodeCryptoSigner,
  sha256Hex,
  signRelease,
  toBase64Url,
  topicFor,
  verifyRelease,
  type UpdateState,
  type UpdateStatusBody,
} from '@meshchain/protocol';
import { ApiTransport } from '../../src/cli/transport.ts';
import { OtaClient } from '../../src/ota/client.ts';
import { parseDuration, parseRate, parseTags } from '../../src/ota/rollout-cli.ts';
import type { RolloutView } from '../../src/ota/rollout-runner.ts';
import { ControlPlaneError } from '../../src/errors.ts';
import { CAPABILITIES, ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';
import { waitFor } from './fleet.ts';

const key = new NodeCryptoSigner(generateSeed());

function status(view: { rolloutId: string; releaseId: string }, state: UpdateState, overrides: Partial<UpdateStatusBody> = {}): UpdateStatusBody {
  return {
    rolloutId: view.rolloutId,
    releaseId: view.releaseId,
    state,
    version: '0.2.0',
    fromVersion: '0.1.0',
    currentVersion: state === 'healthy' ? '0.2.0' : '0.1.0',
    kind: 'app',
    compatibility: 'meshnode-arm64',
    reason: state === 'failed' ? 'hash-mismatch' : state === 'rolled_back' ? 'unhealthy' : null,
    detail: null,
    bytes: state === 'offered' ? 0 : 100,
    at: Date.now(),
    ...overrides,
  };
}

describe('rollouts on the control plane (scripted nodes)', { timeout: 60_000 }, () => {
  let cp: RunningControlPlane;
  let dir: string;
  let api: OtaClient;
  let http: ApiTransport;
  let releaseId: string;
  let otherReleaseId: string;
  let artifact: Buffer;
  let fleet: ScriptedNode[] = [];

  const view = (id: string): Promise<RolloutView> => api.rollout(id);
  // Nodes that ever received an offer (taking it with `next` removes it from `received`).
  const everOffered = new Set<ScriptedNode>();
  const offered = async (): Promise<ScriptedNode[]> => {
    for (const n of fleet) if (n.received.some((m) => m.kind === 'updateOffer')) everOffered.add(n);
    return fleet.filter((n) => everOffered.has(n));
  };

  async function newFleet(n: number): Promise<ScriptedNode[]> {
    const nodes = Array.from({ length: n }, () => new ScriptedNode(cp.info.controlPlaneId));
    for (const node of nodes) {
      await node.connect(cp.info.mqttUrl);
      await node.announce();
    }
    await waitFor('the fleet to be known', async () => {
      const known = ((await http.json<{ nodes: { id: string; capabilities: unknown }[] }>('GET', '/v1/nodes')).nodes ?? []).filter((k) => nodes.some((m) => m.id === k.id) && k.capabilities);
      return known.length === n;
    }, 10_000);
    return nodes;
  }

  async function release(version: string, fromVersions: string[]): Promise<string> {
    const path = join(dir, `agent-${version}.tar.gz`);
    await writeFile(path, artifact);
    await api.uploadArtifact(path);
    const signed = signRelease({ version, kind: 'app', artifact: { sha256: sha256Hex(artifact), size: artifact.length }, fromVersions, rollback: false, compatibility: 'meshnode-arm64', createdAt: Date.now() }, key);
    return (await api.registerRelease(signed)).release.id;
  }

  // A fresh control plane per test: the fleet (the planner's population) is the test's own.
  beforeEach(async () => {
    cp = await startControlPlane({ chain: { enabled: false } });
    dir = await mkdtemp(join(tmpdir(), 'meshchain-rollouts-'));
    api = new OtaClient(cp.info.apiUrl);
    http = new ApiTransport(cp.info.apiUrl);
    artifact = Buffer.from('a small agent release, stand-in bytes\n'.repeat(40));
    releaseId = await release('0.2.0', ['^0.1.0']);
    otherReleaseId = await release('0.3.0', ['*']);
  });

  afterEach(async () => {
    await Promise.all(fleet.map((n) => n.close()));
    fleet = [];
    await cp?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('offers the signed release stage by stage, records reports idempotently, and completes', async () => {
    fleet = await newFleet(4);
    const { rollout } = await api.startRollout({ release: '0.2.0', stages: [25, 100], bakeMs: 0, maxConcurrent: 10, minDevices: 4, abortFailureRate: 0.5 });
    const [first] = await waitFor('an offer', async () => ((await offered()).length === 1 ? offered() : undefined), 10_000);
    assert.ok(first);
    const offer = await first.next('updateOffer');
    assert.equal(offer.body.rolloutId, rollout.id);
    assert.equal(offer.body.releaseId, releaseId);
    assert.equal(offer.body.force, false);
    // The box can check the release key's signature itself, and fetch the artifact by hash.
    assert.equal(verifyRelease(offer.body.release, [toBase64Url(key.publicKey)]).manifest.version, '0.2.0');
    const download = await fetch(offer.body.artifactUrl, { headers: { range: 'bytes=10-' } });
    assert.equal(download.status, 206);
    assert.deepEqual(Buffer.from(await download.arrayBuffer()), artifact.subarray(10));

    const ids = { rolloutId: rollout.id, releaseId };
    const downloading = encodeMessage(first.seal('updateStatus', status(ids, 'downloading')));
    await first.sendRaw(topicFor('updateStatus', first.id), downloading);
    await first.sendRaw(topicFor('updateStatus', first.id), downloading); // a redelivery
    await first.send('updateStatus', status(ids, 'offered')); // late and out of order
    await waitFor('the downloading report', async () => (await view(rollout.id)).devices[0]?.state === 'downloading', 5_000);
    await first.send('updateStatus', status(ids, 'installing'));
    let v = await waitFor('the stale report to be recorded', async () => {
      const current = await view(rollout.id);
      return current.devices[0]?.state === 'installing' ? current : undefined;
    }, 5_000);
    assert.equal(v.stages[0]?.counts.installing, 1);
    assert.equal(v.rollout.stage, 0, 'no advance before the stage settles');
    assert.equal((await offered()).length, 1);

    await first.send('updateStatus', status(ids, 'healthy'));
    const rest = await waitFor('offers to the rest', async () => ((await offered()).length === 4 ? fleet.filter((n) => n !== first) : undefined), 10_000);
    for (const node of rest) {
      await node.next('updateOffer');
      await node.send('updateStatus', status(ids, 'healthy'));
    }
    v = await waitFor('completion', async () => {
      const current = await view(rollout.id);
      return current.rollout.status === 'completed' ? current : undefined;
    }, 10_000);
    assert.deepEqual(v.stages.map((s) => [s.target, s.counts.healthy]), [[1, 1], [4, 3]]);
    assert.ok(v.rollout.finishedAt !== null);
    // Every report was kept once: the redelivered envelope is not stored twice.
    const db = new Database(join(cp.dir, 'control-plane.db'), { readonly: true });
    const stored = db.prepare('SELECT state FROM rollout_reports WHERE node_id = ? ORDER BY rowid').all(first.id) as { state: string }[];
    db.close();
    assert.deepEqual(stored.map((r) => r.state), ['downloading', 'offered', 'installing', 'healthy']);
    const history = await http.json<{ device: { state: string }; reports: { state: string; body: { bytes: number } }[] }>('GET', `/v1/rollouts/${rollout.id}/devices/${first.id}`);
    assert.equal(history.device.state, 'healthy');
    assert.deepEqual(history.reports.map((r) => r.state), ['downloading', 'offered', 'installing', 'healthy']);
    assert.equal((await fetch(`${cp.info.apiUrl}/v1/rollouts/${rollout.id}/devices/${'mn' + 'b'.repeat(26)}`)).status, 404);
    // A healthy device stays healthy whatever arrives late.
    await first.send('updateStatus', status(ids, 'failed'));
    await first.send('updateStatus', status(ids, 'installing'));
    await waitFor('later reports to be recorded', async () => cp.lines.filter((l) => l.msg === 'update status' && l.nodeId === first.id).length >= 6, 5_000);
    assert.equal((await view(rollout.id)).devices.find((d) => d.nodeId === first.id)?.state, 'healthy');
  });

  it('aborts by itself when the failure rate crosses the threshold, and offers nothing more', async () => {
    fleet = await newFleet(5);
    for (const node of fleet) await node.send('capabilities', { ...CAPABILITIES, agentVersion: '0.2.5' });
    const { rollout } = await api.startRollout({ release: '0.3.0', stages: [40, 100], bakeMs: 0, maxConcurrent: 1, minDevices: 20, abortFailureRate: 0.05 });
    const [first] = await waitFor('an offer', async () => ((await offered()).length === 1 ? offered() : undefined), 10_000);
    assert.ok(first);
    const ids = { rolloutId: rollout.id, releaseId: otherReleaseId };
    await first.send('updateStatus', status(ids, 'downloading', { version: '0.3.0', fromVersion: '0.2.5' }));
    await first.send('updateStatus', status(ids, 'rolled_back', { version: '0.3.0', fromVersion: '0.2.5', detail: 'not healthy within 120000 ms' }));
    // Stage 1 is 2 devices: min(minDevices, stage size) = 2 must settle before the rate may abort, so the second is offered.
    const second = await waitFor('a second offer', async () => (await offered()).find((n) => n !== first), 10_000);
    await second.send('updateStatus', status(ids, 'healthy', { version: '0.3.0', fromVersion: '0.2.5' }));
    const v = await waitFor('the abort', async () => {
      const current = await view(rollout.id);
      return current.rollout.status === 'aborted' ? current : undefined;
    }, 10_000);
    assert.equal(v.rollout.stage, 0);
    assert.match(v.rollout.reason ?? '', /failure rate 50% \(1 of 2 settled devices\) exceeds 5\.0% in stage 1/);
    assert.equal(v.stages[0]?.counts.rolled_back, 1);
    assert.ok(cp.lines.some((l) => l.msg === 'rollout aborted'));
    assert.equal((await offered()).length, 2);
    await assert.rejects(api.rolloutAction(rollout.id, 'resume'), /cannot resume a rollout that is aborted/);
  });

  it('counts a box that stops reporting as failed after the step timeout', async () => {
    fleet = await newFleet(1);
    for (const node of fleet) await node.send('capabilities', { ...CAPABILITIES, agentVersion: '0.2.7' });
    const { rollout } = await api.startRollout({ release: '0.3.0', stages: [100], bakeMs: 0, minDevices: 1, abortFailureRate: 0.5, stepTimeoutMs: 300 });
    const v = await waitFor('the time-out', async () => {
      const current = await view(rollout.id);
      return current.rollout.status === 'aborted' ? current : undefined;
    }, 10_000);
    assert.equal(v.devices[0]?.state, 'failed');
    assert.equal(v.devices[0]?.reason, 'timed-out');
  });

  it('leaves excluded and pinned-elsewhere devices alone, selects by tag, pauses and resumes', async () => {
    fleet = await newFleet(4);
    for (const node of fleet) await node.send('capabilities', { ...CAPABILITIES, agentVersion: '0.2.9' });
    const [a, b, c, d] = fleet;
    assert.ok(a && b && c && d);
    await api.updateDevice(a.id, { excluded: true });
    await api.updateDevice(b.id, { pinnedRelease: '0.2.0' });
    await api.updateDevice(c.id, { tags: { ring: 'beta' } });
    await api.updateDevice(d.id, { tags: { ring: 'beta' } });
    const { rollout } = await api.startRollout({ release: '0.3.0', select: { ring: 'beta' }, stages: [50, 100], bakeMs: 60_000, minDevices: 1, abortFailureRate: 0.5 });
    await api.rolloutAction(rollout.id, 'pause');
    let v = await view(rollout.id);
    assert.equal(v.rollout.status, 'paused');
    const skipped = new Map(v.skipped.map((s) => [s.deviceId, s.reason]));
    assert.equal(skipped.get(b.id), 'pinned-elsewhere');
    assert.equal(v.population, 2, 'only the tagged devices');
    await assert.rejects(api.rolloutAction(rollout.id, 'pause'), /cannot pause a rollout that is paused/);
    await api.rolloutAction(rollout.id, 'resume');
    const [target] = await waitFor('an offer to a tagged device', async () => ((await offered()).length > 0 ? offered() : undefined), 10_000);
    assert.ok(target === c || target === d);
    await target.send('updateStatus', status({ rolloutId: rollout.id, releaseId: otherReleaseId }, 'healthy', { version: '0.3.0', fromVersion: '0.2.9' }));
    v = await waitFor('the bake', async () => {
      const current = await view(rollout.id);
      return current.bakeEndsAt !== null ? current : undefined;
    }, 10_000);
    assert.equal(v.rollout.stage, 0, 'baking: the next stage waits');
    const aborted = await api.rolloutAction(rollout.id, 'abort', 'operator changed their mind');
    assert.equal(aborted.rollout.status, 'aborted');
    assert.equal(aborted.rollout.reason, 'operator changed their mind');
    assert.equal((await offered()).length, 1);
    await api.updateDevice(a.id, { excluded: false });
    await api.updateDevice(b.id, { pinnedRelease: null });
  });

  it('refuses bad requests with clear errors', async () => {
    const post = (body: unknown): Promise<Response> => fetch(`${cp.info.apiUrl}/v1/rollouts`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const cases: [unknown, number, RegExp][] = [
      [{ release: '0.2.0', stages: [50, 10, 100] }, 400, /percentages must increase/],
      [{ release: '0.2.0', stages: [10, 50] }, 400, /last stage must be 100/],
      [{ release: '0.2.0', abortFailureRate: 5 }, 400, /abortFailureRate/],
      [{ release: '0.2.0', exclude: ['not-a-node'] }, 400, /not a node id/],
      [{ release: '9.9.9' }, 404, /release 9\.9\.9 not found/],
      [{}, 400, /release/],
    ];
    for (const [body, code, message] of cases) {
      const response = await post(body);
      assert.equal(response.status, code, JSON.stringify(body));
      assert.match(JSON.stringify(await response.json()), message);
    }
    fleet = await newFleet(1); // one device in flight keeps the first rollout running
    const first = await api.startRollout({ release: '0.2.0', minDevices: 1 });
    await waitFor('the offer', async () => (await offered()).length === 1, 10_000);
    await assert.rejects(api.startRollout({ release: '0.3.0' }), /still running/);
    await api.rolloutAction(first.rollout.id, 'abort');
    const device = await fetch(`${cp.info.apiUrl}/v1/devices/${'mn' + 'a'.repeat(26)}/ota`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ tags: 'ring=beta' }) });
    assert.equal(device.status, 400);
    const unknownAction = await fetch(`${cp.info.apiUrl}/v1/rollouts/${first.rollout.id}/explode`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    assert.equal(unknownAction.status, 400);
    const missing = await fetch(`${cp.info.apiUrl}/v1/rollouts/ro_missing`);
    assert.equal(missing.status, 404);
  });

  it('parses the CLI\'s durations, rates and tags, and names what is wrong', () => {
    assert.equal(parseDuration('30m', '--bake'), 1_800_000);
    assert.equal(parseDuration('90s', '--bake'), 90_000);
    assert.equal(parseDuration('250ms', '--bake'), 250);
    assert.equal(parseDuration('0', '--bake'), 0);
    assert.equal(parseRate('5%', '--abort-failure-rate'), 0.05);
    assert.equal(parseRate('0.1', '--abort-failure-rate'), 0.1);
    assert.deepEqual(parseTags(['ring=beta', 'site=a=b'], '--select'), { ring: 'beta', site: 'a=b' });
    assert.throws(() => parseDuration('soon', '--bake'), (e: unknown) => e instanceof ControlPlaneError && /--bake soon is not a duration/.test(e.message));
    assert.throws(() => parseRate('150%', '--abort-failure-rate'), /not a rate/);
    assert.throws(() => parseTags(['ring'], '--select'), /not key=value/);
  });
});
