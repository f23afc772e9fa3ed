// The control plane acknowledges a message to the broker (PUBACK) only once
// it is durable: a result's PUBACK leaves the process after the group commit
// that recorded it, in the same socket write as the result's ack; also after
// a reconnect, and also when the commit of a result fails (then with no ack).
// Checked on the bytes the link's socket hands to the operating system, with
// the database read through a second connection at that moment.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { MeshBroker } from '@meshchain/broker';
import {
  deriveId,
  encodeMessage,
  generateSeed,
  NodeCryptoSigner,
  topicFor,
  type AssignmentBody,
  type BodyOf,
  type Envelope,
  type OpenedMessage,
} from '@meshchain/protocol';
import { ApiClient } from '../../src/index.ts';
import { ControlLink } from '../../src/link/control-link.ts';
import { CAPABILITIES, capturingLogger, ScriptedNode, startControlPlane, type RunningControlPlane } from '../helpers/harness.ts';
import { watchMqttWire, type ClientSocket, type WireWatch } from './mqtt-wire.ts';

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A PUBACK of a result as it left the control plane's socket. */
interface ResultPuback {
  resultId: string;
  /** The result's row was visible to another connection when the PUBACK was handed to the socket. */
  committed: boolean;
  /** The result's ack left in the same write. */
  ackInSameWrite: boolean;
  socket: ClientSocket['socket'];
}

/**
 * Follows the control plane's link on the wire: which packet id carried
 * which result, and, for each PUBACK of a result, whether the result was
 * committed when the PUBACK left.
 */
function followResults(watch: WireWatch, controlPlaneId: string, databaseFile: string): { pubacks: ResultPuback[]; acks: string[]; close(): void } {
  const reader = new Database(databaseFile);
  const recorded = reader.prepare('SELECT 1 FROM results WHERE id = ?');
  const pubacks: ResultPuback[] = [];
  const acks: string[] = [];
  /** Per socket: packet id → the result it carries, until its PUBACK. */
  const inFlight = new Map<ClientSocket['socket'], Map<number, string>>();
  const ackTopic = /^meshchain\/v1\/nodes\/[^/]+\/acks$/;
  watch.onReceive = (client, packet) => {
    if (client.clientId !== controlPlaneId || packet.type !== 'publish' || packet.packetId === null) return;
    const envelope = JSON.parse(packet.payload.toString()) as { kind: string; id: string };
    if (envelope.kind !== 'result') return;
    let ids = inFlight.get(client.socket);
    if (!ids) inFlight.set(client.socket, (ids = new Map()));
    ids.set(packet.packetId, envelope.id);
  };
  watch.onWrite = (client, packets) => {
    if (client.clientId !== controlPlaneId) return;
    const acked = packets.flatMap((p) =>
      p.type === 'publish' && ackTopic.test(p.topic) ? [(JSON.parse(p.payload.toString()) as Envelope<'ack'>).body.resultId] : [],
    );
    acks.push(...acked);
    for (const packet of packets) {
      if (packet.type !== 'puback') continue;
      const ids = inFlight.get(client.socket);
      const resultId = ids?.get(packet.packetId);
      if (!ids || resultId === undefined) continue;
      ids.delete(packet.packetId);
      pubacks.push({ resultId, committed: recorded.get(resultId) !== undefined, ackInSameWrite: acked.includes(resultId), socket: client.socket });
    }
  };
  return {
    pubacks,
    acks,
    close() {
      watch.onReceive = null;
      watch.onWrite = null;
      reader.close();
    },
  };
}

function echo(assignment: AssignmentBody): BodyOf<'result'> {
  if (assignment.workload !== 'synthetic') throw new Error(`expected a synthetic assignment, got ${assignment.workload}`);
  return {
    workload: 'synthetic',
    jobId: assignment.jobId,
    shardId: assignment.shardId,
    leaseId: assignment.leaseId,
    inputHash: assignment.inputHash,
    outputs: assignment.inputs.map((input) => ({ index: input.index, echo: input.echo })),
    stats: { computeMs: 1 },
  };
}

describe('PUBACK after the group commit', () => {
  const cleanup: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const fn of cleanup.splice(0).reverse()) await fn();
  });

  async function setup(slots: number): Promise<{ cp: RunningControlPlane; api: ApiClient; node: ScriptedNode; wire: WireWatch; results: ReturnType<typeof followResults> }> {
    // Installed before the control plane starts, so the link's CONNECT names its socket.
    const wire = watchMqttWire();
    cleanup.push(() => wire.restore());
    const cp = await startControlPlane({ chain: { enabled: false }, trust: { enabled: false } });
    cleanup.push(() => cp.stop());
    const results = followResults(wire, cp.info.controlPlaneId, join(cp.dir, 'control-plane.db'));
    cleanup.push(() => results.close());
    assert.ok(wire.clients.some((c) => c.clientId === cp.info.controlPlaneId), "the link's socket is watched");
    const node = new ScriptedNode(cp.info.controlPlaneId);
    await node.connect(cp.info.mqttUrl);
    cleanup.push(() => node.close());
    await node.send('presence', { state: 'online', since: Date.now() });
    await node.send('capabilities', { ...CAPABILITIES, runtimes: [{ workload: 'synthetic', engine: 'test', version: '0' }], maxConcurrentShards: slots });
    return { cp, api: new ApiClient(cp.info.apiUrl), node, wire, results };
  }

  const items = (n: number) => Array.from({ length: n }, (_, i) => ({ echo: `item ${i}`, units: 1 }));

  it('sends the PUBACK of every result after the commit that recorded it, in one write with its ack', async () => {
    const { api, node, results } = await setup(4);
    const { job } = await api.submitJob({ workload: 'synthetic', items: items(12), shardSize: 1 });
    for (let round = 0; round < 3; round++) {
      const assignments = [];
      for (let i = 0; i < 4; i++) assignments.push((await node.next('assignment')).body);
      // Sent back to back: several results share a turn, and one group commit, at the control plane.
      await Promise.all(assignments.map((a) => node.send('result', echo(a))));
      for (let i = 0; i < 4; i++) assert.equal((await node.next('ack')).body.status, 'accepted');
    }
    assert.equal((await api.job(job.id)).job.state, 'completed');

    const { pubacks } = results;
    assert.equal(pubacks.length, 12, 'one PUBACK per result');
    assert.equal(new Set(pubacks.map((p) => p.resultId)).size, 12);
    assert.deepEqual(pubacks.filter((p) => !p.committed).map((p) => p.resultId), [], 'no PUBACK left before its result was committed');
    assert.deepEqual(pubacks.filter((p) => !p.ackInSameWrite).map((p) => p.resultId), [], 'each PUBACK left with its ack');
  });

  it('keeps the order on the new connection after the link reconnects', async () => {
    const { cp, api, node, wire, results } = await setup(1);
    const cpId = cp.info.controlPlaneId;
    const { job } = await api.submitJob({ workload: 'synthetic', items: items(2), shardSize: 1 });
    await node.send('result', echo((await node.next('assignment')).body));
    assert.equal((await node.next('ack')).body.status, 'accepted');
    const second = (await node.next('assignment')).body;

    const first = wire.clients.find((c) => c.clientId === cpId);
    assert.ok(first);
    first.socket.destroy();
    // Queued by the broker in the control plane's persistent session if the link is still down.
    await node.send('result', echo(second));
    assert.equal((await node.next('ack')).body.status, 'accepted');
    assert.equal((await api.job(job.id)).job.state, 'completed');

    const { pubacks } = results;
    assert.equal(pubacks.length, 2);
    assert.equal(pubacks[0]?.socket, first.socket);
    assert.notEqual(pubacks[1]?.socket, first.socket, 'the second result came on a new connection');
    assert.equal(wire.clients.filter((c) => c.clientId === cpId).length, 2);
    assert.deepEqual(pubacks.map((p) => [p.committed, p.ackInSameWrite]), [[true, true], [true, true]]);
  });

  it('still sends the PUBACK when a result fails to commit, with no ack; the re-sent result is accepted once', async () => {
    const { cp, api, node, results } = await setup(2);
    const { job } = await api.submitJob({ workload: 'synthetic', items: items(2), shardSize: 1 });
    const failing = node.seal('result', echo((await node.next('assignment')).body));
    const passing = node.seal('result', echo((await node.next('assignment')).body));
    // Another connection makes the failing result's insert abort, as a broken disk or a full one would.
    const admin = new Database(join(cp.dir, 'control-plane.db'));
    cleanup.push(() => {
      admin.close();
    });
    admin.exec(`CREATE TRIGGER refuse_result BEFORE INSERT ON results WHEN NEW.id = '${failing.id}' BEGIN SELECT RAISE(ABORT, 'refused by the test'); END`);

    const topic = topicFor('result', node.id);
    await Promise.all([node.sendRaw(topic, encodeMessage(failing)), node.sendRaw(topic, encodeMessage(passing))]);
    const ack = await node.next('ack');
    assert.deepEqual([ack.body.resultId, ack.body.status], [passing.id, 'accepted']);
    const refused = await waitFor('the PUBACK of the refused result', () => results.pubacks.find((p) => p.resultId === failing.id));
    assert.equal(refused.committed, false, 'nothing of it was recorded');
    assert.ok(cp.lines.some((l) => l.msg === 'result intake failed; the node will send it again' && l.resultId === failing.id));
    assert.ok(!results.acks.includes(failing.id), 'no ack for a result that is not recorded');
    assert.equal((await api.job(job.id)).job.state, 'running');

    // The node's outbox sends it again: recorded, acknowledged, counted once.
    admin.exec('DROP TRIGGER refuse_result');
    await node.sendRaw(topic, encodeMessage(failing));
    const again = await node.next('ack');
    assert.deepEqual([again.body.resultId, again.body.status], [failing.id, 'accepted']);
    assert.equal((await api.job(job.id)).job.state, 'completed');
    const last = results.pubacks.at(-1);
    assert.deepEqual([last?.resultId, last?.committed, last?.ackInSameWrite], [failing.id, true, true]);
    const counted = admin.prepare(`SELECT COUNT(*) AS n FROM results WHERE verdict = 'accepted'`).get() as { n: number };
    assert.equal(counted.n, 2);
  });
});

describe('the link’s end of turn', () => {
  /**
   * A ControlLink on a real broker with hooks of the test's own, and a
   * scripted node; `events` lists, in order, each message handed to
   * onMessage, each end of turn, and each PUBACK, ack and DISCONNECT the
   * link's socket writes.
   */
  async function startLink(
    t: { after: (fn: () => unknown) => void },
    hooks: { onMessage?: (link: ControlLink, message: OpenedMessage) => void; onTurnEnd?: (link: ControlLink) => void },
  ): Promise<{ link: ControlLink; node: ScriptedNode; events: string[]; lines: ReturnType<typeof capturingLogger>['lines'] }> {
    const wire = watchMqttWire();
    t.after(() => wire.restore());
    const signer = new NodeCryptoSigner(generateSeed());
    const cpId = deriveId(signer.publicKey, 'cp');
    const broker = new MeshBroker({ host: '127.0.0.1', port: 0, enrollment: 'open', trustedControlPlanes: new Set([cpId]) });
    const { url } = await broker.start();
    t.after(() => broker.stop());
    const events: string[] = [];
    const { logger, lines } = capturingLogger();
    const link: ControlLink = new ControlLink({
      url,
      signer,
      logger,
      maxSkewMs: 60_000,
      onMessage: (message) => {
        events.push(`message ${message.envelope.id}`);
        hooks.onMessage?.(link, message);
      },
      onTurnEnd: () => {
        events.push('turn end');
        hooks.onTurnEnd?.(link);
      },
    });
    const carried = new Map<number, string>();
    wire.onReceive = (client, packet) => {
      if (client.clientId === cpId && packet.type === 'publish' && packet.packetId !== null) {
        carried.set(packet.packetId, (JSON.parse(packet.payload.toString()) as { id: string }).id);
      }
    };
    wire.onWrite = (client, packets) => {
      if (client.clientId !== cpId) return;
      for (const p of packets) {
        if (p.type === 'puback') events.push(`puback ${carried.get(p.packetId)}`);
        if (p.type === 'publish' && p.topic.endsWith('/acks')) events.push(`ack ${(JSON.parse(p.payload.toString()) as Envelope<'ack'>).body.resultId}`);
        if (p.type === 'other' && p.code === 14) events.push('disconnect');
      }
    };
    await link.start();
    t.after(() => link.stop());
    const node = new ScriptedNode(cpId);
    await node.connect(url);
    t.after(() => node.close());
    return { link, node, events, lines };
  }

  async function sendPresences(node: ScriptedNode, count: number): Promise<string[]> {
    const sent = Array.from({ length: count }, (_, i) => node.seal('presence', { state: 'online', since: Date.now() + i }));
    await Promise.all(sent.map((e) => node.sendRaw(topicFor('presence', node.id), encodeMessage(e))));
    return sent.map((e) => e.id);
  }

  function assertEndOfTurnFirst(events: string[], ids: string[]): void {
    for (const id of ids) {
      const received = events.indexOf(`message ${id}`);
      const acked = events.indexOf(`puback ${id}`);
      assert.ok(received >= 0 && acked > received, `${id} was received, then acknowledged`);
      assert.ok(events.slice(received, acked).includes('turn end'), `the end of its turn came before the PUBACK of ${id}`);
    }
  }

  it('lets the PUBACKs of a turn go after its end-of-turn work, also when that work throws', async (t) => {
    let failing = true;
    const { link, node, events, lines } = await startLink(t, {
      onTurnEnd: () => {
        if (failing) throw new Error('the commit failed');
      },
    });

    const first = await sendPresences(node, 3);
    await waitFor('the PUBACKs', () => first.every((id) => events.includes(`puback ${id}`)));
    assertEndOfTurnFirst(events, first);
    assert.ok(lines.some((l) => l.msg === 'end-of-turn handler failed' && (l.err as { message?: string } | undefined)?.message === 'the commit failed'));

    // The link carries on.
    failing = false;
    const second = await sendPresences(node, 3);
    await waitFor('the PUBACKs', () => second.every((id) => events.includes(`puback ${id}`)));
    assertEndOfTurnFirst(events, second);
    assert.equal(link.connected, true);
  });

  it('ends an open turn on stop(): its end-of-turn work runs and what it sends leaves with the PUBACKs, before the link disconnects', async (t) => {
    let stopped: Promise<void> | null = null;
    const answered: string[] = [];
    const { node, events } = await startLink(t, {
      onMessage: (link, message) => {
        answered.push(message.envelope.id);
        // Stopped by something else in the same turn, after the message and before the turn's end.
        queueMicrotask(() => (stopped ??= link.stop()));
      },
      // The end-of-turn work answers the turn's messages, as the group commit acks its results.
      onTurnEnd: (link) => {
        for (const resultId of answered.splice(0)) {
          link.publish('ack', node.id, { resultId, shardId: 'job_1.0', leaseId: 'lease_1', status: 'accepted' }).catch(() => events.push('ack refused'));
        }
      },
    });
    const [id] = await sendPresences(node, 1);
    await waitFor('the stop', () => stopped);
    await stopped;
    await waitFor('the DISCONNECT', () => events.includes('disconnect'));
    assert.deepEqual(events, [`message ${id}`, 'turn end', `puback ${id}`, `ack ${id}`, 'disconnect']);
  });
});
