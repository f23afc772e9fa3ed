import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mqtt, { type MqttClient } from 'mqtt';
import {
  createAuthToken,
  deriveId,
  encodeMessage,
  generateSeed,
  NodeCryptoSigner,
  sealMessage,
  topicFor,
  type Signer,
} from '@meshchain/protocol';
import { MeshBroker } from '../src/index.ts';

const cpSigner = new NodeCryptoSigner(generateSeed());
const cpId = deriveId(cpSigner.publicKey, 'cp');
const clients: MqttClient[] = [];

function connect(url: string, options: mqtt.IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  clients.push(client);
  return new Promise((resolve, reject) => {
    client.once('connect', () => {
      // Refusals after CONNACK close the socket; the tests assert on 'close'.
      client.on('error', () => {});
      resolve(client);
    });
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function connectAs(url: string, signer: Signer, role: 'node' | 'cp', extra: mqtt.IClientOptions = {}): Promise<MqttClient> {
  const id = deriveId(signer.publicKey, role);
  return connect(url, { clientId: id, username: id, password: createAuthToken(signer, role), ...extra });
}

function newNode(): { signer: NodeCryptoSigner; id: string } {
  const signer = new NodeCryptoSigner(generateSeed());
  return { signer, id: deriveId(signer.publicKey, 'node') };
}

async function refused(promise: Promise<MqttClient>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, pattern);
}

// events.once would reject on the ECONNRESET that accompanies a refusal.
function closeOf(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('close', () => resolve()));
}

/** Resolves with the next message on a subscribed client. */
function nextMessage(client: MqttClient): Promise<{ topic: string; payload: Buffer; retain: boolean }> {
  return new Promise((resolve) => client.once('message', (topic, payload, packet) => resolve({ topic, payload, retain: packet.retain })));
}

describe('MeshBroker (open enrollment)', () => {
  const broker = new MeshBroker({ port: 0, enrollment: 'open', trustedControlPlanes: new Set([cpId]), maxPacketBytes: 64 * 1024 });
  let url = '';
  before(async () => {
    url = (await broker.start()).url;
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await broker.stop();
  });

  it('accepts a node with a token signed by its own key, and the control plane', async () => {
    const node = newNode();
    const client = await connectAs(url, node.signer, 'node');
    assert.equal(client.connected, true);
    const control = await connectAs(url, cpSigner, 'cp');
    assert.equal(control.connected, true);
  });

  it('refuses anonymous, garbage, expired, foreign-key and mismatched-id connections', async () => {
    const node = newNode();
    const victim = newNode();
    await refused(connect(url, { clientId: node.id }), /Not authorized/);
    await refused(connect(url, { clientId: node.id, username: node.id, password: 'garbage' }), /Bad username or password/);
    const expired = createAuthToken(node.signer, 'node', { now: Date.now() - 3_600_000, ttlMs: 60_000 });
    await refused(connect(url, { clientId: node.id, username: node.id, password: expired }), /Bad username or password/);
    // A valid token of the attacker's own, presented under the victim's id.
    await refused(
      connect(url, { clientId: victim.id, username: victim.id, password: createAuthToken(node.signer, 'node') }),
      /Bad username or password/,
    );
    await refused(connectAs(url, node.signer, 'node', { clientId: victim.id }), /Identifier rejected/);
    // A control-plane token from a key nobody trusts.
    await refused(connectAs(url, new NodeCryptoSigner(generateSeed()), 'cp'), /Not authorized/);
    assert.ok(broker.stats.refusedConnections >= 6);
  });

  it('refuses a will on anything but the client\'s own presence', async () => {
    const node = newNode();
    const victim = newNode();
    await refused(
      connectAs(url, node.signer, 'node', { will: { topic: topicFor('presence', victim.id), payload: Buffer.from('x'), qos: 1, retain: true } }),
      /Not authorized/,
    );
  });

  it('delivers a node\'s result to the control plane and an assignment to the node', async () => {
    const node = newNode();
    const control = await connectAs(url, cpSigner, 'cp');
    await control.subscribeAsync('meshchain/v1/nodes/+/results', { qos: 1 });
    const client = await connectAs(url, node.signer, 'node');
    const granted = await client.subscribeAsync(topicFor('assignment', node.id), { qos: 1 });
    assert.equal(granted[0]?.qos, 1);

    const received = nextMessage(control);
    await client.publishAsync(topicFor('result', node.id), Buffer.from('r'), { qos: 1 });
    assert.equal((await received).topic, topicFor('result', node.id));

    const toNode = nextMessage(client);
    await control.publishAsync(topicFor('assignment', node.id), Buffer.from('a'), { qos: 1 });
    assert.equal((await toNode).payload.toString(), 'a');
  });

  it('closes a node that publishes under another node, and nothing is delivered', async () => {
    const node = newNode();
    const victim = newNode();
    const control = await connectAs(url, cpSigner, 'cp');
    await control.subscribeAsync(topicFor('result', victim.id), { qos: 1 });
    const delivered: string[] = [];
    control.on('message', (_topic, payload) => delivered.push(payload.toString()));
    const client = await connectAs(url, node.signer, 'node');
    const closed = closeOf(client);
    client.publish(topicFor('result', victim.id), Buffer.from('forged'), { qos: 1 }, () => {});
    await closed;
    // A marker from the victim's real topic proves the forged message would have arrived first.
    const marker = nextMessage(control);
    await control.publishAsync(topicFor('result', victim.id), Buffer.from('marker'), { qos: 1 });
    assert.equal((await marker).payload.toString(), 'marker');
    assert.deepEqual(delivered, ['marker'], 'the forged message never arrived');
    assert.ok(broker.stats.refusedPublishes >= 1);
  });

  it('refuses subscriptions to another node, across nodes and at the root', async () => {
    const node = newNode();
    const victim = newNode();
    const client = await connectAs(url, node.signer, 'node');
    for (const filter of [topicFor('assignment', victim.id), 'meshchain/v1/nodes/+/assignments', 'meshchain/v1/#', '#']) {
      const granted = await client.subscribeAsync(filter, { qos: 1 }).catch((error: Error) => error);
      const refusedGrant = granted instanceof Error || granted[0]?.qos === 128;
      assert.ok(refusedGrant, `${filter} must be refused`);
    }
  });

  it('closes a connection that sends a packet over the size limit', async () => {
    const node = newNode();
    const client = await connectAs(url, node.signer, 'node');
    const closed = closeOf(client);
    client.publish(topicFor('result', node.id), Buffer.alloc(128 * 1024), { qos: 1 }, () => {});
    await closed;
    assert.equal(client.connected, false);
  });

  it('keeps retained presence and publishes the will when a node drops', async () => {
    const node = newNode();
    const will = encodeMessage(sealMessage('presence', { state: 'offline', since: Date.now() }, node.signer));
    const online = encodeMessage(sealMessage('presence', { state: 'online', since: Date.now() }, node.signer));
    const client = await connectAs(url, node.signer, 'node', {
      will: { topic: topicFor('presence', node.id), payload: will, qos: 1, retain: true },
    });
    await client.publishAsync(topicFor('presence', node.id), online, { qos: 1, retain: true });

    const control = await connectAs(url, cpSigner, 'cp');
    const retained = nextMessage(control);
    await control.subscribeAsync(topicFor('presence', node.id), { qos: 1 });
    const first = await retained;
    assert.equal(first.retain, true);
    assert.deepEqual(first.payload, online);

    const offline = nextMessage(control);
    client.stream.destroy(); // abrupt drop, no DISCONNECT
    assert.deepEqual((await offline).payload, will);
  });
});

describe('MeshBroker (allow-list)', () => {
  const allowed = newNode();
  const broker = new MeshBroker({
    port: 0,
    enrollment: 'allowlist',
    trustedControlPlanes: new Set([cpId]),
    isNodeAllowed: async (id) => id === allowed.id,
  });
  let url = '';
  before(async () => {
    url = (await broker.start()).url;
  });
  after(async () => {
    for (const client of clients) client.end(true);
    await broker.stop();
  });

  it('admits listed nodes only', async () => {
    assert.equal((await connectAs(url, allowed.signer, 'node')).connected, true);
    await refused(connectAs(url, newNode().signer, 'node'), /Not authorized/);
    assert.equal((await connectAs(url, cpSigner, 'cp')).connected, true);
  });
});
