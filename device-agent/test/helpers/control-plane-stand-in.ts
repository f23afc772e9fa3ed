import mqtt, { type MqttClient } from 'mqtt';
import {
  createAuthToken,
  deriveId,
  encodeMessage,
  fleetSubscription,
  generateSeed,
  NodeCryptoSigner,
  openMessage,
  sealMessage,
  topicFor,
  type BodyOf,
  type DownKind,
  type OpenedMessage,
  type UpKind,
} from '@meshchain/protocol';

/**
 * A control plane for agent tests: its own key, an MQTT connection, every
 * message it hears from the fleet in `inbox`, and signed messages to nodes.
 */
export class ControlPlaneStandIn {
  readonly signer = new NodeCryptoSigner(generateSeed());
  readonly id = deriveId(this.signer.publicKey, 'cp');
  readonly inbox: OpenedMessage[] = [];
  client: MqttClient | null = null;
  #waiters: { match: (m: OpenedMessage) => boolean; resolve: (m: OpenedMessage) => void }[] = [];

  /** Connects and subscribes to `kinds` from every node; messages open against `trusted` (default: this one). */
  async connect(url: string, kinds: readonly UpKind[], trusted: Set<string> = new Set([this.id])): Promise<void> {
    this.client = await mqtt.connectAsync(url, { clientId: this.id, username: this.id, password: createAuthToken(this.signer, 'cp'), reconnectPeriod: 0 });
    this.client.on('message', (topic, payload) => {
      const message = openMessage(topic, payload, { trustedControlPlanes: trusted });
      this.inbox.push(message);
      for (const waiter of this.#waiters.filter((w) => w.match(message))) {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        waiter.resolve(message);
      }
    });
    await this.client.subscribeAsync(kinds.map((kind) => fleetSubscription(kind)), { qos: 1 });
  }

  /** The first message (already heard or still to come) that matches; `what` names it in the time-out error. */
  waitFor(match: (m: OpenedMessage) => boolean, timeoutMs = 30_000, what = 'a message'): Promise<OpenedMessage> {
    const seen = this.inbox.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), timeoutMs);
      this.#waiters.push({ match, resolve: (m) => (clearTimeout(timer), resolve(m)) });
    });
  }

  /** Signs `body` as `kind` and publishes it to the node (QoS 1). */
  async send<K extends DownKind>(kind: K, nodeId: string, body: BodyOf<K>): Promise<void> {
    await this.client!.publishAsync(topicFor(kind, nodeId), encodeMessage(sealMessage(kind, body, this.signer)), { qos: 1 });
  }
}
