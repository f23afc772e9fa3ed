/**
 * What the local web page needs from the agent. The web server depends only
 * on these interfaces; the agent (its composition root) provides them.
 */
import type { LedState } from '../led/index.ts';
import type { TelemetrySample } from '../telemetry/index.ts';

/** Everything the page shows; plain JSON (no Dates, no Maps, no cycles). */
export interface WebSnapshot {
  nodeId: string;
  agentVersion: string;
  os: { platform: string; release: string; arch: string; hostname: string };
  /** The LED state (see device-agent/docs/led.md). */
  state: LedState;
  /** The LED's current level and the pattern of `state`; the page blinks the pattern itself. */
  led: { on: boolean; pattern: readonly { on: boolean; ms: number }[] };
  /** The MQTT link to the control plane; `since` is when it last went up or down (ms since epoch). */
  connectivity: { connected: boolean; broker: string; since: number | null };
  /** The bound owner's EVM address, or null while unclaimed. */
  owner: string | null;
  current: {
    jobId: string;
    shardId: string;
    inputs: number;
    done: number;
    startedAt: number;
    tokensPerSecond: number | null;
  } | null;
  /** Since the agent's data was created: shards completed, tokens produced, results rejected. */
  work: { shards: number; tokens: number; rejected: number };
  /** null until rewards are wired; `mcp` is a decimal string (token amounts exceed 2^53). */
  earnings: { units: number; mcp: string | null } | null;
  /** `history` is oldest first and covers about the last hour. */
  telemetry: { latest: TelemetrySample | null; history: TelemetrySample[] };
  update: {
    status: 'idle' | 'downloading' | 'installing' | 'rebooting' | 'failed';
    version: string | null;
    detail: string | null;
  };
  /** Recent log lines, oldest first, bounded by the source. */
  logs: { ts: number; level: string; msg: string }[];
}

export type WebUpdateStatus = WebSnapshot['update']['status'];
export type WebLogEntry = WebSnapshot['logs'][number];

/**
 * The agent's live state. `snapshot()` must be cheap (in memory): it runs
 * once per change, not per request. Live events send pages only what
 * changed: announce every change through `subscribe`'s listener, and replace
 * the parts that change rather than editing them in place (unchanged parts
 * may be shared), as `WebStatusStore` does. A part edited in place reaches
 * the pages within 20 events, when everything is compared.
 */
export interface WebStatusSource {
  snapshot(): WebSnapshot;
  /** Calls `listener` (with no arguments) after any change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

/**
 * What an owner can ask the box to do. Each resolves once the request is
 * accepted and rejects to refuse it (throw a `WebError` to choose the HTTP
 * status and message the page shows; anything else becomes a 500).
 */
export interface WebActions {
  /** Bind the node to this owner (an EVM address, already validated; as typed, checksummed or lower-case). */
  bindOwner(address: string): Promise<void>;
  /** Show `identify` on the LED for this many seconds (1–600, an integer). */
  identify(seconds: number): Promise<void>;
  /**
   * Restart the agent. Resolve once the restart is scheduled, before the
   * agent stops (e.g. stop on `setImmediate`), so the page gets its answer.
   */
  restart(): Promise<void>;
}

type LogMethod = (fields: Record<string, unknown>, message: string) => void;

/** Pino-compatible: a pino logger (or child) fits. */
export interface WebLogger {
  info: LogMethod;
  warn: LogMethod;
  error: LogMethod;
}
