import type { ReleaseManifest } from '@meshchain/protocol';
import { AgentError } from '../errors.ts';
import { tarUnpack, type ReleaseDirectory, type Unpack, type UpdateOutcome } from './release-dir.ts';
import { verifyUpdate, UpdateRefusedError, type VerifyUpdateParameters } from './verify.ts';

/**
 * Waits for the health signal, or for `signal` (the health deadline, or the
 * updater stopping): true when the agent reported healthy first. A health
 * check that fails counts as not healthy.
 */
export function healthyBefore(health: (signal: AbortSignal) => Promise<void>, signal: AbortSignal): Promise<boolean> {
  return Promise.race([
    health(signal).then(() => true, () => false),
    new Promise<false>((resolve) => {
      if (signal.aborted) resolve(false);
      signal.addEventListener('abort', () => resolve(false), { once: true });
    }),
  ]);
}

/** A step of an update, as reported to the control plane and shown on the box ("updating"). */
export type UpdateStep =
  | { step: 'verifying' | 'draining' | 'unpacking' | 'switching' | 'restarting'; version: string }
  | { step: 'confirming'; version: string; deadline: number }
  | { step: 'healthy'; version: string }
  | { step: 'rolled_back'; version: string; from: string; reason: string }
  | { step: 'refused'; version: string | null; reason: string; detail: string };

export interface AppUpdaterOptions {
  dir: ReleaseDirectory;
  /** This box's compatibility string, e.g. `meshnode-arm64`. */
  compatibility: string;
  /** Release public keys (base64url) the box trusts. */
  trustedKeys: readonly string[];
  /** Resolves once no shard is running and none will start (the job runner drains). Never called with `force`. */
  drain: (signal: AbortSignal) => Promise<void>;
  /** Hands over to the release `current` now points at (in production: exit and let systemd restart). */
  restart: () => Promise<void>;
  /**
   * Resolves when the running agent is healthy (connected, its checks pass).
   * Called by `start()` in the new release while an update is pending.
   */
  health: (signal: AbortSignal) => Promise<void>;
  /** How long a new release has to become healthy. */
  healthDeadlineMs: number;
  unpack?: Unpack;
  now?: () => number;
  /** Aborts after `ms`: the health deadline. Injectable for tests. */
  timeout?: (ms: number) => AbortSignal;
  onStep?: (step: UpdateStep) => void;
}

export interface InstallAppParameters extends Omit<VerifyUpdateParameters, 'kind' | 'currentVersion' | 'trustedKeys' | 'compatibility'> {
  /** Skip draining: an operator's decision to interrupt running work. */
  force?: boolean;
  signal?: AbortSignal;
}

/**
 * `app` updates of the agent itself. The old agent verifies, drains, unpacks
 * the new release next to the old one, records the pending update, switches
 * `current` atomically and restarts. The new agent's `start()` waits for the
 * health signal: healthy within the deadline commits the update; otherwise
 * `current` goes back to the previous release and the agent restarts into it.
 * A restart or power cut at any step leaves `current` on a release that ran
 * (see `recover`).
 */
export class AppUpdater {
  readonly #o: AppUpdaterOptions;
  readonly #stop = new AbortController();
  #confirmation: Promise<UpdateOutcome | null> = Promise.resolve(null);

  constructor(options: AppUpdaterOptions) {
    this.#o = options;
  }

  /** Cleans up interrupted work, then (in the background) confirms or rolls back a pending update. */
  async start(): Promise<void> {
    const recovered = await this.recover();
    // The deadline passed while this release was down: `current` is the old one again; run it.
    if (recovered?.outcome === 'rolled_back') {
      this.#confirmation = Promise.resolve(recovered);
      await this.#o.restart();
      return;
    }
    const state = await this.#o.dir.readState();
    if (state.pending) this.#confirmation = this.#confirm();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#confirmation.catch(() => null);
  }

  /** The outcome of the pending update this start found; null when there was none or the agent stopped first. */
  get confirmation(): Promise<UpdateOutcome | null> {
    return this.#confirmation;
  }

  /** Verifies, drains, stages and switches; then restarts. Throws `UpdateRefusedError` with nothing changed when refused. */
  async install(params: InstallAppParameters): Promise<void> {
    const { dir } = this.#o;
    const now = this.#o.now ?? Date.now;
    const from = await dir.currentVersion();
    if (from === null) throw new AgentError(`no current release under ${dir.root}`, { details: 'the agent is not running from a release directory; app updates need one' });
    if ((await dir.readState()).pending) throw new AgentError('an update is already in progress');

    this.#report({ step: 'verifying', version: versionOf(params.signed) ?? '?' });
    let manifest: ReleaseManifest;
    try {
      manifest = await verifyUpdate({ ...params, kind: 'app', currentVersion: from, trustedKeys: this.#o.trustedKeys, compatibility: this.#o.compatibility });
    } catch (error) {
      if (error instanceof UpdateRefusedError) this.#report({ step: 'refused', version: versionOf(params.signed), reason: error.reason, detail: error.shortMessage });
      throw error;
    }
    const to = manifest.version;
    const signal = params.signal ?? this.#stop.signal;
    if (!params.force) {
      this.#report({ step: 'draining', version: to });
      await this.#o.drain(signal);
    }
    signal.throwIfAborted();
    this.#report({ step: 'unpacking', version: to });
    await dir.stage(to, params.artifactPath, this.#o.unpack ?? tarUnpack);
    signal.throwIfAborted();
    // The pending record goes first: a power cut after the switch finds it and knows where to go back.
    const startedAt = now();
    await dir.writeState({ ...(await dir.readState()), pending: { from, to, startedAt, deadline: startedAt + this.#o.healthDeadlineMs } });
    this.#report({ step: 'switching', version: to });
    await dir.switchTo(to);
    this.#report({ step: 'restarting', version: to });
    await this.#o.restart();
  }

  /**
   * Boot-time repair. A pending update whose switch never happened is
   * abandoned (the box still runs `from`); one whose deadline passed without
   * a commit is rolled back. Staging leftovers are removed.
   */
  async recover(): Promise<UpdateOutcome | null> {
    const { dir } = this.#o;
    const now = (this.#o.now ?? Date.now)();
    await dir.removeLeftovers();
    const state = await dir.readState();
    const pending = state.pending;
    if (!pending) return null;
    const current = await dir.currentVersion();
    if (current !== pending.to) {
      const outcome: UpdateOutcome = { version: pending.to, from: pending.from, outcome: 'abandoned', reason: 'interrupted before the switch', at: now };
      await dir.writeState({ version: 1, pending: null, last: outcome });
      return outcome;
    }
    if (now >= pending.deadline) return this.#rollBack(pending.from, pending.to, 'not healthy before the deadline (restarted or crashed while confirming)');
    return null;
  }

  async #confirm(): Promise<UpdateOutcome | null> {
    const { dir } = this.#o;
    const now = this.#o.now ?? Date.now;
    const pending = (await dir.readState()).pending;
    if (!pending) return null;
    this.#report({ step: 'confirming', version: pending.to, deadline: pending.deadline });
    const deadline = (this.#o.timeout ?? ((ms: number) => AbortSignal.timeout(ms)))(Math.max(0, pending.deadline - now()));
    const signal = AbortSignal.any([deadline, this.#stop.signal]);
    const healthy = await healthyBefore(this.#o.health, signal);
    if (healthy && !deadline.aborted) {
      const outcome: UpdateOutcome = { version: pending.to, from: pending.from, outcome: 'healthy', reason: null, at: now() };
      await dir.writeState({ version: 1, pending: null, last: outcome });
      await dir.prune([pending.to, pending.from]);
      this.#report({ step: 'healthy', version: pending.to });
      return outcome;
    }
    // A stopping agent leaves the decision to its next start (recover() or another confirmation).
    if (this.#stop.signal.aborted) return null;
    const outcome = await this.#rollBack(pending.from, pending.to, `not healthy within ${this.#o.healthDeadlineMs} ms`);
    await this.#o.restart();
    return outcome;
  }

  async #rollBack(from: string, to: string, reason: string): Promise<UpdateOutcome> {
    const { dir } = this.#o;
    await dir.switchTo(from);
    const outcome: UpdateOutcome = { version: to, from, outcome: 'rolled_back', reason, at: (this.#o.now ?? Date.now)() };
    await dir.writeState({ version: 1, pending: null, last: outcome });
    this.#report({ step: 'rolled_back', version: to, from, reason });
    return outcome;
  }

  #report(step: UpdateStep): void {
    this.#o.onStep?.(step);
  }
}

function versionOf(signed: unknown): string | null {
  const version = (signed as { manifest?: { version?: unknown } } | null)?.manifest?.version;
  return typeof version === 'string' ? version.slice(0, 128) : null;
}
