import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isVersion, releaseDigest, type ReleaseKind, type UpdateOfferBody, type UpdateState, type UpdateStatusBody } from '@meshchain/protocol';
import type { Logger } from 'pino';
import { AppUpdater, type UpdateStep } from './app-updater.ts';
import { ArtifactDownloadError, downloadArtifact } from './download.ts';
import type { OtaConfig } from './ota-config.ts';
import type { SystemInstaller } from './rauc.ts';
import { ReleaseDirectory } from './release-dir.ts';
import { SystemUpdater } from './system-updater.ts';
import { UpdateRefusedError, verifyManifest } from './verify.ts';

/** What the owner's page and the LED show about an update. */
export interface UpdateDisplay {
  status: 'idle' | 'downloading' | 'installing' | 'rebooting' | 'failed';
  version: string | null;
  detail: string | null;
}

export interface SystemOtaOptions {
  installer: SystemInstaller;
  /** The OS version the box runs now. */
  currentVersion: () => Promise<string>;
  reboot: () => Promise<void>;
  /** Default `<dataDir>/ota/system-update.json`. */
  stateFile?: string;
}

export interface OtaServiceOptions {
  config: OtaConfig;
  dataDir: string;
  logger: Logger;
  /** Publishes a status report (QoS 1); rejects when not connected. */
  publish: (body: UpdateStatusBody) => Promise<void>;
  /** Resolves once no shard runs (the job runner drains). */
  drain: (signal: AbortSignal) => Promise<void>;
  /** Takes work again after an update that did not happen. */
  resumeWork: () => void;
  /** Hands over to the release `current` points at: the agent stops and its supervisor starts it again. */
  restart: () => Promise<void>;
  /** Resolves when this agent is healthy: connected and its capabilities delivered. */
  health: (signal: AbortSignal) => Promise<void>;
  onDisplay: (display: UpdateDisplay) => void;
  authorization?: () => string;
  /** `system` updates; absent, they are refused. */
  system?: SystemOtaOptions | null;
  now?: () => number;
}

/** The update this box was offered and is working on; survives restarts (the data partition). */
interface OfferRecord {
  version: 1;
  rolloutId: string | null;
  releaseId: string | null;
  kind: ReleaseKind;
  to: string;
  from: string;
  signed: unknown;
  artifactUrl: string;
  sha256: string;
  size: number;
  force: boolean;
  bytes: number;
  offeredAt: number;
}

const FINAL: readonly UpdateState[] = ['healthy', 'failed', 'rolled_back'];

/**
 * The agent's side of OTA: takes offers from the control plane, downloads
 * the artifact (resumable), hands it to the `AppUpdater` or `SystemUpdater`
 * and reports every step. The offer being worked on is kept on disk so the
 * agent that runs after a restart (the new release, or the old one after a
 * rollback) reports how it ended; the control plane keeps reports idempotent.
 */
export class OtaService {
  readonly #o: OtaServiceOptions;
  readonly #dir: string;
  readonly #stop = new AbortController();
  readonly #publishes = new Set<Promise<unknown>>();
  #app: AppUpdater | null = null;
  #system: SystemUpdater | null = null;
  #offer: OfferRecord | null = null;
  #busy: Promise<void> | null = null;
  #reported: UpdateState | null = null;
  /** Offers are taken one at a time, in arrival order. */
  #offers: Promise<void> = Promise.resolve();
  #systemVersion = '0.0.0';

  constructor(options: OtaServiceOptions) {
    this.#o = options;
    this.#dir = join(options.dataDir, 'ota');
  }

  get releaseDirectory(): ReleaseDirectory | null {
    return this.#o.config.releaseRoot ? new ReleaseDirectory(this.#o.config.releaseRoot) : null;
  }

  /** Reads the offer in progress, then lets the updaters recover and confirm (the app updater may restart the agent). */
  async start(): Promise<void> {
    await mkdir(this.#dir, { recursive: true });
    this.#offer = await this.#readOffer();
    const { config } = this.#o;
    const onStep = (step: UpdateStep): void => this.#onStep(step);
    const drain = (signal: AbortSignal): Promise<void> => this.#o.drain(signal);
    const restart = async (): Promise<void> => {
      await this.#flushReports();
      await this.#o.restart();
    };
    const dir = this.releaseDirectory;
    if (dir) {
      this.#app = new AppUpdater({ dir, compatibility: config.compatibility, trustedKeys: config.trustedKeys, drain, restart, health: this.#o.health, healthDeadlineMs: config.healthDeadlineMs, onStep });
    }
    const system = this.#o.system;
    if (system) {
      this.#systemVersion = await system.currentVersion();
      this.#system = new SystemUpdater({
        installer: system.installer,
        compatibility: config.compatibility,
        trustedKeys: config.trustedKeys,
        currentVersion: system.currentVersion,
        stateFile: system.stateFile ?? join(this.#dir, 'system-update.json'),
        drain,
        reboot: async () => {
          await this.#flushReports();
          await system.reboot();
        },
        health: this.#o.health,
        healthDeadlineMs: config.healthDeadlineMs,
        onStep,
      });
    }
    await this.#app?.start();
    await this.#system?.start();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await this.#app?.stop();
    await this.#system?.stop();
    await this.#busy?.catch(() => undefined);
    await this.#flushReports();
  }

  /** The outcome of an app update this start was confirming (tests). */
  get appConfirmation(): Promise<unknown> {
    return this.#app?.confirmation ?? Promise.resolve(null);
  }

  /** The link is up: report where the update in progress stands (a report sent before a restart may have been lost). */
  onConnect(): void {
    void this.#reconcile().catch((error: unknown) => this.#o.logger.warn({ err: error }, 'update status not reconciled'));
  }

  /** A verified offer from the control plane. */
  handleOffer(body: UpdateOfferBody): void {
    const log = this.#o.logger;
    const current = this.#offer;
    if (current && current.releaseId === body.releaseId && current.rolloutId === body.rolloutId) {
      log.info({ rolloutId: body.rolloutId }, 'update offer redelivered');
      if (!this.#busy) this.onConnect();
      return;
    }
    this.#offers = this.#offers.then(() => this.#accept(body)).catch((error: unknown) => log.error({ err: error, rolloutId: body.rolloutId }, 'update offer failed'));
  }

  async #accept(body: UpdateOfferBody): Promise<void> {
    const log = this.#o.logger;
    const kind = (body.release.manifest as { kind?: unknown } | null)?.kind === 'system' ? 'system' : 'app';
    const version = versionOf(body.release.manifest);
    const from = kind === 'app' ? this.#o.config.agentVersion : this.#systemVersion;
    const refuse = (reason: string, detail: string): Promise<void> => {
      log.warn({ rolloutId: body.rolloutId, version, reason, detail }, 'update refused');
      return this.#send({ rolloutId: body.rolloutId, releaseId: body.releaseId, kind, to: version, from, bytes: 0 }, 'failed', reason, detail);
    };
    // An earlier update whose final report has not gone out yet: settle it first (it may clear).
    if (this.#offer && !this.#busy) await this.#reconcile();
    if (this.#busy || this.#offer) return refuse('busy', `already working on release ${this.#offer?.to ?? '?'}`);
    if (kind === 'app' && !this.#app) return refuse('not-installed-as-release', 'this agent does not run from a release directory (MESHNODE_RELEASE_ROOT); app updates need one');
    if (kind === 'system' && !this.#system) return refuse('system-updates-off', 'system updates are not enabled on this box (MESHNODE_SYSTEM_UPDATES)');
    let manifest;
    try {
      manifest = verifyManifest({ signed: body.release, trustedKeys: this.#o.config.trustedKeys, currentVersion: from, compatibility: this.#o.config.compatibility, kind });
    } catch (error) {
      if (error instanceof UpdateRefusedError) return refuse(error.reason, error.shortMessage);
      throw error;
    }
    if (releaseDigest(manifest) !== body.releaseId) return refuse('malformed', `the offer names release ${body.releaseId}, but the signed manifest is ${releaseDigest(manifest)}`);
    const offer: OfferRecord = {
      version: 1,
      rolloutId: body.rolloutId,
      releaseId: body.releaseId,
      kind,
      to: manifest.version,
      from,
      signed: body.release,
      artifactUrl: body.artifactUrl,
      sha256: manifest.artifact.sha256,
      size: manifest.artifact.size,
      force: body.force,
      bytes: 0,
      offeredAt: (this.#o.now ?? Date.now)(),
    };
    await this.#writeOffer(offer);
    this.#offer = offer;
    this.#reported = null;
    log.info({ rolloutId: offer.rolloutId, version: offer.to, kind }, 'update offered');
    await this.#report('offered');
    this.#run(offer);
  }

  #run(offer: OfferRecord): void {
    if (this.#busy) return;
    this.#busy = this.#install(offer).finally(() => {
      this.#busy = null;
    });
  }

  async #install(offer: OfferRecord): Promise<void> {
    const log = this.#o.logger.child({ rolloutId: offer.rolloutId, version: offer.to });
    const artifactPath = join(this.#dir, 'downloads', offer.sha256);
    // Bytes received in this attempt; counted even when it is cut short (the next start resumes the file).
    let received = 0;
    let counted = false;
    try {
      this.#display({ status: 'downloading', version: offer.to, detail: null });
      await this.#report('downloading');
      await downloadArtifact({
        url: offer.artifactUrl,
        path: artifactPath,
        size: offer.size,
        signal: this.#stop.signal,
        onProgress: (n) => {
          received = n;
        },
        ...(this.#o.authorization ? { authorization: this.#o.authorization() } : {}),
      });
      offer.bytes += received;
      counted = true;
      await this.#writeOffer(offer);
      log.info({ bytes: received, total: offer.bytes }, 'update downloaded');
      this.#display({ status: 'installing', version: offer.to, detail: null });
      const params = { signed: offer.signed, artifactPath, force: offer.force, signal: this.#stop.signal };
      if (offer.kind === 'app') await this.#app?.install(params);
      else await this.#system?.install(params);
    } catch (error) {
      if (!counted && received > 0) {
        offer.bytes += received;
        await this.#writeOffer(offer).catch(() => undefined);
      }
      if (this.#stop.signal.aborted) return; // stopping: the next start resumes from the offer on disk
      this.#o.resumeWork();
      const reason = error instanceof UpdateRefusedError || error instanceof ArtifactDownloadError ? error.reason : 'error';
      const detail = (error instanceof Error ? ((error as { shortMessage?: string }).shortMessage ?? error.message) : String(error)).slice(0, 512);
      log.warn({ reason, detail }, 'update failed; nothing was switched');
      this.#display({ status: 'failed', version: offer.to, detail });
      await this.#final('failed', reason, detail);
    }
  }

  #onStep(step: UpdateStep): void {
    switch (step.step) {
      case 'verifying':
      case 'draining':
      case 'unpacking':
      case 'switching':
        this.#display({ status: 'installing', version: step.version, detail: step.step });
        void this.#report('installing');
        break;
      case 'restarting':
        this.#display({ status: this.#offer?.kind === 'system' ? 'rebooting' : 'installing', version: step.version, detail: 'restarting into the new release' });
        void this.#report('installed');
        break;
      case 'confirming':
        this.#display({ status: 'installing', version: step.version, detail: 'confirming the new release is healthy' });
        void this.#report('installed');
        break;
      case 'healthy':
        this.#display({ status: 'idle', version: step.version, detail: null });
        void this.#final('healthy', null, null);
        break;
      case 'rolled_back':
        this.#display({ status: 'failed', version: step.version, detail: step.reason });
        void this.#final('rolled_back', 'unhealthy', step.reason);
        break;
      case 'refused':
        break; // reported once, by the caller of install
    }
  }

  async #reconcile(): Promise<void> {
    const offer = this.#offer;
    if (!offer || this.#busy) return;
    if (offer.kind === 'app' && this.#app) {
      const dir = this.releaseDirectory;
      const state = dir ? await dir.readState() : null;
      if (state?.pending?.to === offer.to) return this.#report('installed', null, null, true);
      const last = state?.last;
      if (last && last.version === offer.to && last.from === offer.from && last.at >= offer.offeredAt) {
        if (last.outcome === 'healthy') return this.#final('healthy', null, null);
        if (last.outcome === 'rolled_back') return this.#final('rolled_back', 'unhealthy', last.reason);
        return this.#final('failed', 'interrupted', last.reason);
      }
      if (this.#o.config.agentVersion === offer.to) return this.#final('healthy', null, null);
    } else if (offer.kind === 'system' && this.#system) {
      if (this.#systemVersion === offer.to) return; // the system updater confirms and reports
    }
    // Interrupted before the switch (e.g. while downloading): carry on; the download resumes.
    this.#run(offer);
  }

  /** Sends the final state; the offer is forgotten once the report is out (else the next connect sends it again). */
  async #final(state: UpdateState, reason: string | null, detail: string | null): Promise<void> {
    const offer = this.#offer;
    if (!offer) return;
    try {
      await this.#publish(this.#body(offer, state, reason, detail));
    } catch (error) {
      this.#o.logger.info({ err: error, state }, 'final update status not sent yet; will send it on the next connection');
      return;
    }
    this.#offer = null;
    this.#reported = null;
    await rm(join(this.#dir, 'offer.json'), { force: true });
    await rm(join(this.#dir, 'downloads'), { recursive: true, force: true });
    if (state !== 'healthy') this.#o.resumeWork();
  }

  async #report(state: UpdateState, reason: string | null = null, detail: string | null = null, again = false): Promise<void> {
    const offer = this.#offer;
    if (!offer || FINAL.includes(state) || (!again && this.#reported === state)) return;
    this.#reported = state;
    await this.#publish(this.#body(offer, state, reason, detail)).catch((error: unknown) => this.#o.logger.debug({ err: error, state }, 'update status not sent'));
  }

  async #send(target: { rolloutId: string | null; releaseId: string | null; kind: ReleaseKind; to: string | null; from: string; bytes: number }, state: UpdateState, reason: string | null, detail: string | null): Promise<void> {
    await this.#publish({
      rolloutId: target.rolloutId,
      releaseId: target.releaseId,
      state,
      version: target.to,
      fromVersion: target.from,
      currentVersion: target.kind === 'app' ? this.#o.config.agentVersion : this.#systemVersion,
      kind: target.kind,
      compatibility: this.#o.config.compatibility,
      reason: reason?.slice(0, 64) ?? null,
      detail: detail?.slice(0, 512) ?? null,
      bytes: target.bytes,
      at: (this.#o.now ?? Date.now)(),
    }).catch((error: unknown) => this.#o.logger.debug({ err: error, state }, 'update status not sent'));
  }

  #body(offer: OfferRecord, state: UpdateState, reason: string | null, detail: string | null): UpdateStatusBody {
    return {
      rolloutId: offer.rolloutId,
      releaseId: offer.releaseId,
      state,
      version: offer.to,
      fromVersion: offer.from,
      currentVersion: offer.kind === 'app' ? this.#o.config.agentVersion : this.#systemVersion,
      kind: offer.kind,
      compatibility: this.#o.config.compatibility,
      reason: reason?.slice(0, 64) ?? null,
      detail: detail?.slice(0, 512) ?? null,
      bytes: offer.bytes,
      at: (this.#o.now ?? Date.now)(),
    };
  }

  /** Lets reports in flight reach the broker before a restart or reboot, for at most a few seconds. */
  async #flushReports(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.allSettled([...this.#publishes]), new Promise<void>((resolve) => (timer = setTimeout(resolve, 5_000)))]);
    clearTimeout(timer);
  }

  #publish(body: UpdateStatusBody): Promise<void> {
    const sent = this.#o.publish(body);
    this.#publishes.add(sent);
    void sent.catch(() => undefined).finally(() => this.#publishes.delete(sent));
    return sent;
  }

  #display(display: UpdateDisplay): void {
    this.#o.onDisplay(display);
  }

  async #readOffer(): Promise<OfferRecord | null> {
    const text = await readFile(join(this.#dir, 'offer.json'), 'utf8').catch(() => null);
    if (text === null) return null;
    try {
      const parsed = JSON.parse(text) as OfferRecord;
      return parsed.version === 1 && typeof parsed.to === 'string' && typeof parsed.sha256 === 'string' ? parsed : null;
    } catch {
      return null; // written by rename, so never torn; a corrupt file means no offer
    }
  }

  async #writeOffer(offer: OfferRecord): Promise<void> {
    const temp = join(this.#dir, `.offer-${randomBytes(4).toString('hex')}`);
    const handle = await open(temp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(offer) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(this.#dir, 'offer.json'));
  }
}

function versionOf(manifest: unknown): string | null {
  const version = (manifest as { version?: unknown } | null)?.version;
  return typeof version === 'string' && version.length <= 128 && isVersion(version) ? version : null;
}
