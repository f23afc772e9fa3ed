import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ReleaseManifest } from '@meshchain/protocol';
import { AgentError } from '../errors.ts';
import { healthyBefore, type UpdateStep } from './app-updater.ts';
import type { SystemInstaller } from './rauc.ts';
import { UpdateRefusedError, verifyUpdate, type VerifyUpdateParameters } from './verify.ts';

export interface SystemUpdaterOptions {
  installer: SystemInstaller;
  compatibility: string;
  trustedKeys: readonly string[];
  /** The OS version the box runs now (e.g. from /etc/os-release). */
  currentVersion: () => Promise<string>;
  /** Where the pending system update is recorded across the reboot (on the data partition). */
  stateFile: string;
  drain: (signal: AbortSignal) => Promise<void>;
  /** Reboots the box (in production `systemctl reboot`). */
  reboot: () => Promise<void>;
  health: (signal: AbortSignal) => Promise<void>;
  healthDeadlineMs: number;
  timeout?: (ms: number) => AbortSignal;
  onStep?: (step: UpdateStep) => void;
}

interface PendingSystemUpdate {
  version: 1;
  from: string;
  to: string;
}

export type SystemConfirmation = { outcome: 'healthy' | 'fell_back' | 'not_booted'; version: string; from: string } | null;

/**
 * `system` updates: verify, drain, `install` into the inactive slot, record
 * the pending update, reboot. After the reboot, `start()` marks the booted
 * slot good only when the agent reports healthy in time; otherwise it
 * reboots without marking, and the bootloader falls back to the old slot.
 */
export class SystemUpdater {
  readonly #o: SystemUpdaterOptions;
  readonly #stop = new AbortController();
  #confirmation: Promise<SystemConfirmation> = Promise.resolve(null);

  constructor(options: SystemUpdaterOptions) {
    this.#o = options;
  }

  get confirmation(): Promise<SystemConfirmation> {
    return this.#confirmation;
  }

  async start(): Promise<void> {
    const pending = await this.#readPending();
    if (pending) this.#confirmation = this.#confirm(pending);
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#confirmation.catch(() => null);
  }

  async install(params: Omit<VerifyUpdateParameters, 'kind' | 'currentVersion' | 'trustedKeys' | 'compatibility'> & { force?: boolean; signal?: AbortSignal }): Promise<void> {
    if (await this.#readPending()) throw new AgentError('a system update is already waiting for its reboot');
    const from = await this.#o.currentVersion();
    let manifest: ReleaseManifest;
    try {
      manifest = await verifyUpdate({ ...params, kind: 'system', currentVersion: from, trustedKeys: this.#o.trustedKeys, compatibility: this.#o.compatibility });
    } catch (error) {
      if (error instanceof UpdateRefusedError) this.#o.onStep?.({ step: 'refused', version: null, reason: error.reason, detail: error.shortMessage });
      throw error;
    }
    const signal = params.signal ?? this.#stop.signal;
    const to = manifest.version;
    if (!params.force) {
      this.#o.onStep?.({ step: 'draining', version: to });
      await this.#o.drain(signal);
    }
    signal.throwIfAborted();
    this.#o.onStep?.({ step: 'unpacking', version: to });
    await this.#o.installer.install(params.artifactPath, signal);
    await this.#writePending({ version: 1, from, to });
    this.#o.onStep?.({ step: 'restarting', version: to });
    await this.#o.reboot();
  }

  async #confirm(pending: PendingSystemUpdate): Promise<SystemConfirmation> {
    const running = await this.#o.currentVersion();
    if (running !== pending.to) {
      // The box is back on the old slot (the bootloader fell back, or the reboot never happened).
      await rm(this.#o.stateFile, { force: true });
      const outcome = running === pending.from ? 'fell_back' : 'not_booted';
      this.#o.onStep?.({ step: 'rolled_back', version: pending.to, from: pending.from, reason: outcome === 'fell_back' ? 'the new system slot did not come up; the bootloader fell back' : `running ${running}` });
      return { outcome, version: pending.to, from: pending.from };
    }
    const deadline = (this.#o.timeout ?? ((ms: number) => AbortSignal.timeout(ms)))(this.#o.healthDeadlineMs);
    this.#o.onStep?.({ step: 'confirming', version: pending.to, deadline: Date.now() + this.#o.healthDeadlineMs });
    const signal = AbortSignal.any([deadline, this.#stop.signal]);
    const healthy = await healthyBefore(this.#o.health, signal);
    if (this.#stop.signal.aborted && !healthy) return null;
    if (healthy && !deadline.aborted) {
      await this.#o.installer.markGood();
      await rm(this.#o.stateFile, { force: true });
      this.#o.onStep?.({ step: 'healthy', version: pending.to });
      return { outcome: 'healthy', version: pending.to, from: pending.from };
    }
    // Not marked good: on the next boot the bootloader falls back to the old slot.
    this.#o.onStep?.({ step: 'rolled_back', version: pending.to, from: pending.from, reason: `not healthy within ${this.#o.healthDeadlineMs} ms; rebooting into the previous slot` });
    await this.#o.reboot();
    return { outcome: 'fell_back', version: pending.to, from: pending.from };
  }

  async #readPending(): Promise<PendingSystemUpdate | null> {
    const text = await readFile(this.#o.stateFile, 'utf8').catch(() => null);
    if (text === null) return null;
    try {
      const parsed = JSON.parse(text) as PendingSystemUpdate;
      return parsed.version === 1 && typeof parsed.from === 'string' && typeof parsed.to === 'string' ? parsed : null;
    } catch {
      return null;
    }
  }

  async #writePending(pending: PendingSystemUpdate): Promise<void> {
    const temp = join(dirname(this.#o.stateFile), `.system-update-${randomBytes(4).toString('hex')}`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(pending) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, this.#o.stateFile);
  }
}
