/**
 * A ready-made `WebStatusSource`: the agent keeps one, updates parts of it as
 * things happen (LED state, link up/down, shard progress, telemetry samples,
 * log lines) and the web server reads it. Updates are synchronous and cheap;
 * the server coalesces them before sending.
 */
import { arch, hostname, platform, release } from 'node:os';
import { LED_PATTERNS } from '../led/index.ts';
import type { WebLogEntry, WebSnapshot, WebStatusSource } from './types.ts';

export const DEFAULT_MAX_LOGS = 100;

export interface WebStatusStoreOptions {
  /** Log lines kept; default 100. */
  maxLogs?: number;
}

export class WebStatusStore implements WebStatusSource {
  #snapshot: WebSnapshot;
  readonly #listeners = new Set<() => void>();
  readonly #maxLogs: number;

  constructor(initial: WebSnapshot, options: WebStatusStoreOptions = {}) {
    this.#maxLogs = Math.max(1, options.maxLogs ?? DEFAULT_MAX_LOGS);
    this.#snapshot = { ...initial, logs: initial.logs.slice(-this.#maxLogs) };
  }

  snapshot(): WebSnapshot {
    return this.#snapshot;
  }

  subscribe(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Replaces the given top-level fields (a shallow merge) and tells listeners. */
  update(patch: Partial<WebSnapshot>): void {
    this.#snapshot = { ...this.#snapshot, ...patch };
    this.#emit();
  }

  /** Appends a log line, dropping the oldest past `maxLogs`. */
  log(entry: WebLogEntry): void {
    const logs = [...this.#snapshot.logs, entry];
    this.#snapshot = { ...this.#snapshot, logs: logs.length > this.#maxLogs ? logs.slice(-this.#maxLogs) : logs };
    this.#emit();
  }

  #emit(): void {
    for (const listener of this.#listeners) listener();
  }
}

/** A snapshot for an agent that has just started: booting, offline, no work, this machine's OS. */
export function initialWebSnapshot(init: { nodeId: string; agentVersion: string; broker: string }): WebSnapshot {
  return {
    nodeId: init.nodeId,
    agentVersion: init.agentVersion,
    os: { platform: platform(), release: release(), arch: arch(), hostname: hostname() },
    state: 'booting',
    led: { on: true, pattern: LED_PATTERNS.booting },
    connectivity: { connected: false, broker: init.broker, since: null },
    owner: null,
    current: null,
    work: { shards: 0, tokens: 0, rejected: 0 },
    earnings: null,
    telemetry: { latest: null, history: [] },
    update: { status: 'idle', version: null, detail: null },
    logs: [],
  };
}
