import { createHash } from 'node:crypto';
import { SimNode, type SimNodeEvent, type SimNodeStats } from './sim-node.ts';

export interface ChurnOptions {
  /** Abrupt disconnects per second across the fleet (Poisson); 0 = none. */
  dropsPerSecond: number;
  /** How long a dropped node stays away before it reconnects, in ms (jittered ±50%). */
  downMs: number;
}

export interface FleetSimulatorOptions {
  url: string;
  controlPlaneId: string;
  nodes: number;
  /** Node keys derive from this seed and the node's index, so a fleet keeps its identities (and broker sessions) across runs. */
  seed?: string;
  /** Shards each node declares it can run at once (default 1, like a real agent). */
  slots?: number;
  /** Extra delay before each result, in ms: a number, or [min, max] uniformly. */
  resultLatencyMs?: number | readonly [number, number];
  churn?: ChurnOptions;
  /** Connections opened at once while the fleet starts. */
  connectConcurrency?: number;
  onEvent?: (event: SimNodeEvent) => void;
  random?: () => number;
}

export type FleetStats = SimNodeStats & { nodes: number; connected: number; unacknowledged: number; drops: number };

/**
 * N simulated MeshNodes in one process (see SimNode): each with its own
 * identity, connection, token, will, presence and capabilities, running
 * synthetic shards honestly. Optional churn drops random nodes abruptly and
 * brings them back after a while; optional latency delays every result.
 */
export class FleetSimulator {
  readonly nodes: SimNode[] = [];
  readonly #o: FleetSimulatorOptions;
  readonly #random: () => number;
  #churnTimer: NodeJS.Timeout | null = null;
  readonly #reconnectTimers = new Set<NodeJS.Timeout>();
  readonly #listeners = new Set<(event: SimNodeEvent) => void>();
  #drops = 0;
  #stopped = false;

  constructor(options: FleetSimulatorOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  /** Creates and connects every node (bounded concurrency), then starts churn if asked. */
  async start(): Promise<void> {
    const seed = this.#o.seed ?? `fleet-${Date.now()}-${Math.random()}`;
    const latency = this.#o.resultLatencyMs;
    const resultLatencyMs =
      latency === undefined ? undefined : typeof latency === 'number' ? () => latency : () => latency[0] + this.#random() * (latency[1] - latency[0]);
    for (let i = 0; i < this.#o.nodes; i++) {
      this.nodes.push(
        new SimNode({
          url: this.#o.url,
          controlPlaneId: this.#o.controlPlaneId,
          seed: createHash('sha256').update(`${seed}:${i}`).digest(),
          ...(this.#o.slots ? { slots: this.#o.slots } : {}),
          ...(resultLatencyMs ? { resultLatencyMs } : {}),
          onEvent: (event) => {
            this.#o.onEvent?.(event);
            for (const listener of this.#listeners) listener(event);
          },
        }),
      );
    }
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < this.nodes.length && !this.#stopped) {
        const node = this.nodes[next++];
        await node?.connect();
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#o.connectConcurrency ?? 50, this.nodes.length) }, worker));
    if (this.#o.churn && this.#o.churn.dropsPerSecond > 0) this.#startChurn(this.#o.churn);
  }

  /** Every node's assignments, acks and refused messages; returns the unsubscribe function. */
  subscribe(listener: (event: SimNodeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#churnTimer) clearInterval(this.#churnTimer);
    for (const timer of this.#reconnectTimers) clearTimeout(timer);
    this.#reconnectTimers.clear();
    await Promise.all(this.nodes.map((node) => node.stop()));
  }

  stats(): FleetStats {
    const total: FleetStats = {
      nodes: this.nodes.length,
      connected: 0,
      unacknowledged: 0,
      drops: this.#drops,
      assignments: 0,
      results: 0,
      resends: 0,
      acks: { accepted: 0, duplicate: 0, rejected: 0 },
      handbacks: 0,
      connects: 0,
    };
    for (const node of this.nodes) {
      if (node.connected) total.connected++;
      total.unacknowledged += node.unacknowledged;
      total.assignments += node.stats.assignments;
      total.results += node.stats.results;
      total.resends += node.stats.resends;
      total.handbacks += node.stats.handbacks;
      total.connects += node.stats.connects;
      for (const status of ['accepted', 'duplicate', 'rejected'] as const) total.acks[status] += node.stats.acks[status];
    }
    return total;
  }

  #startChurn(churn: ChurnOptions): void {
    const tickMs = 100;
    this.#churnTimer = setInterval(() => {
      // Poisson arrivals: the number of drops in this tick.
      let drops = 0;
      const mean = (churn.dropsPerSecond * tickMs) / 1000;
      for (let p = Math.exp(-mean), s = p, u = this.#random(); u > s; s += p) p *= mean / ++drops;
      for (let i = 0; i < drops; i++) {
        const node = this.nodes[Math.floor(this.#random() * this.nodes.length)];
        if (!node?.connected) continue;
        node.drop();
        this.#drops++;
        const timer = setTimeout(() => {
          this.#reconnectTimers.delete(timer);
          if (!this.#stopped) node.connect().catch(() => this.#retry(node, churn));
        }, churn.downMs * (0.5 + this.#random()));
        this.#reconnectTimers.add(timer);
      }
    }, tickMs);
    this.#churnTimer.unref();
  }

  #retry(node: SimNode, churn: ChurnOptions): void {
    const timer = setTimeout(() => {
      this.#reconnectTimers.delete(timer);
      if (!this.#stopped && !node.connected) node.connect().catch(() => this.#retry(node, churn));
    }, churn.downMs);
    this.#reconnectTimers.add(timer);
  }
}
