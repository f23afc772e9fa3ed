import { join } from 'node:path';
import { MeshBroker } from '@meshchain/broker';
import type { Logger } from 'pino';
import { Aggregator } from './aggregate/aggregator.ts';
import { ApiServer } from './api/server.ts';
import type { ControlPlaneConfig } from './config.ts';
import { loadOrCreateControlPlaneKey } from './identity/key-file.ts';
import { ResultIntake } from './intake/result-intake.ts';
import { JobStore } from './jobs/job-store.ts';
import { ControlLink } from './link/control-link.ts';
import { ModelStore } from './models/model-store.ts';
import { NodeStore } from './nodes/node-store.ts';
import { Orchestrator } from './orchestrator.ts';
import { SpotChecker } from './trust/spot-checker.ts';
import { TrustStore } from './trust/trust-store.ts';
import { LeaseStore } from './scheduler/lease-store.ts';
import { openDatabase, type Db } from './store/db.ts';
import type { BatcherFaults } from './rewards/batcher.ts';
import { RewardsService } from './rewards/service.ts';
import type { ChainInfo } from './rewards/types.ts';
import { ArtifactStore } from './ota/artifact-store.ts';
import { ConflictError } from './errors.ts';
import { ReleaseStore } from './ota/release-store.ts';
import { RolloutRunner } from './ota/rollout-runner.ts';
import { RolloutStore } from './ota/rollout-store.ts';

export const CONTROL_PLANE_VERSION = '0.1.0';

export interface ControlPlaneInfo {
  controlPlaneId: string;
  publicKey: string;
  version: string;
  apiUrl: string;
  mqttUrl: string;
  enrollment: 'open' | 'allowlist';
  /** Where rewards settle; null with `--no-chain`. */
  chain: ChainInfo | null;
}

interface Running {
  db: Db;
  broker: MeshBroker | null;
  link: ControlLink;
  api: ApiServer;
  orchestrator: Orchestrator;
  rewards: RewardsService | null;
  trust: SpotChecker;
  rollouts: RolloutRunner;
  info: ControlPlaneInfo;
}

/**
 * `meshchain serve`: the embedded broker, the MQTT link, the orchestrator
 * and the HTTP API over one SQLite database. The constructor does no work;
 * `start()` brings the parts up in order and `stop()` takes them down in reverse.
 */
export class ControlPlane {
  readonly #config: ControlPlaneConfig;
  readonly #logger: Logger;
  readonly #faults: BatcherFaults;
  #running: Running | null = null;

  /** `faults` is for crash tests only. */
  constructor(config: ControlPlaneConfig, logger: Logger, faults: BatcherFaults = {}) {
    this.#config = config;
    this.#logger = logger;
    this.#faults = faults;
  }

  get info(): ControlPlaneInfo {
    if (!this.#running) throw new Error('control plane is not started');
    // Chain id and token address may be learnt after start (a configured RPC that was down).
    return { ...this.#running.info, chain: this.#running.rewards?.chainInfo ?? null };
  }

  async start(): Promise<ControlPlaneInfo> {
    const config = this.#config;
    const log = this.#logger;
    const { signer, id, created } = await loadOrCreateControlPlaneKey(join(config.dataDir, 'control-plane.key.json'));
    if (created) log.info({ controlPlaneId: id }, 'created control-plane key');

    const db = openDatabase(join(config.dataDir, 'control-plane.db'));
    const jobs = new JobStore(db);
    const nodes = new NodeStore(db);
    const leases = new LeaseStore(db, config.retry);
    const rewards = config.chain.enabled
      ? new RewardsService({ db, dataDir: config.dataDir, chain: config.chain, rewards: config.rewards, maxSkewMs: config.maxSkewMs, logger: log.child({ component: 'rewards' }), faults: this.#faults })
      : null;
    await rewards?.start().catch((error: unknown) => {
      db.close();
      throw error;
    });
    const models = new ModelStore(join(config.dataDir, 'models'), db);
    let orchestrator: Orchestrator | null = null;
    const trust = new SpotChecker({
      db,
      store: new TrustStore(db),
      models,
      logger: log.child({ component: 'trust' }),
      config: { ...config.trust, sampling: config.trust },
      ...(rewards ? { onForfeit: (nodeId: string, jobId: string | undefined, reason: string) => void rewards.ledger.forfeitContributions({ nodeId, ...(jobId ? { jobId } : {}), reason }) } : {}),
      onVerdict: () => orchestrator?.requestSchedule(),
      // Validator nodes: checks go to online validators of other owners, as signed `verify` tasks.
      nodes,
      publish: (nodeId, body) => link.publish('assignment', nodeId, body),
      modelUrl: (sha256) => `${apiUrl}/v1/models/${sha256}`,
    });
    const rewardHooks = rewards?.intakeHooks ?? {};
    const intake = new ResultIntake(db, jobs, leases, nodes, {
      // Both run inside the transaction that accepts a shard.
      onAccepted: (shard, now) => {
        rewardHooks.onAccepted?.(shard, now);
        trust.onAccepted(shard, now);
      },
    });
    const aggregator = new Aggregator(db, jobs, intake, (resultId) => trust.verdictOf(resultId));
    const artifacts = new ArtifactStore(join(config.dataDir, 'artifacts'), db);
    const releases = new ReleaseStore(db, artifacts);

    let broker: MeshBroker | null = null;
    let brokerUrl = config.brokerUrl;
    if (!brokerUrl) {
      const allowed = new Set(config.allowlist);
      broker = new MeshBroker({
        host: config.host,
        port: config.mqttPort,
        enrollment: config.enrollment,
        trustedControlPlanes: new Set([id]),
        isNodeAllowed: (nodeId) => allowed.has(nodeId),
        logger: log,
      });
      brokerUrl = (await broker.start()).url;
    }

    const link = new ControlLink({
      url: brokerUrl,
      signer,
      logger: log.child({ component: 'link' }),
      maxSkewMs: config.maxSkewMs,
      onMessage: (message) => (message.kind === 'updateStatus' && message.nodeId ? rollouts.handleStatus(message.nodeId, message.envelope) : orchestrator?.handle(message)),
      // The turn's results are committed before the link lets their PUBACKs go.
      onTurnEnd: () => orchestrator?.commitResults(),
    });
    let apiUrl = '';
    const rollouts = new RolloutRunner({
      db,
      rollouts: new RolloutStore(db),
      releases,
      nodes,
      publishOffer: (nodeId, body) => link.publish('updateOffer', nodeId, body),
      artifactBaseUrl: () => apiUrl,
      logger: log.child({ component: 'rollouts' }),
      tickMs: config.tickMs,
    });

    // The orchestrator is built after the API listens: assignments carry
    // model URLs, and the API's port is only known then (port 0 in tests).
    const api = new ApiServer({
      host: config.host,
      port: config.apiPort,
      apiToken: config.apiToken,
      logger: log,
      info: () => this.info as unknown as Record<string, unknown>,
      jobs,
      nodes,
      models,
      aggregator,
      onJobSubmitted: () => orchestrator?.requestSchedule(),
      cancelJob: (jobId, reason) => {
        if (!orchestrator) throw new ConflictError('the control plane is still starting');
        return orchestrator.cancelJob(jobId, reason);
      },
      sendCommand: (nodeId, command) => link.publish('command', nodeId, command),
      trust,
      rewards,
      ota: { artifacts, releases, rollouts },
    });
    const listening = await api.start();
    apiUrl = config.publicApiUrl ?? listening.url;

    orchestrator = new Orchestrator({
      jobs,
      leases,
      nodes,
      intake,
      aggregator,
      models,
      link,
      logger: log.child({ component: 'orchestrator' }),
      leaseTiming: config.lease,
      placement: config.placement,
      stragglers: config.stragglers.enabled ? config.stragglers : null,
      modelBaseUrl: apiUrl,
      tickMs: config.tickMs,
      trust,
      ...(rewards
        ? {
            creditedUnits: (resultId: string) =>
              (db.prepare('SELECT units FROM contributions WHERE result_id = ?').get(resultId) as { units: number } | undefined)?.units ?? null,
          }
        : {}),
      ...(rewards ? { onBinding: (nodeId: string, envelope: Parameters<RewardsService['recordBinding']>[1]) => void rewards.recordBinding(nodeId, envelope) } : {}),
    });
    await link.start();
    orchestrator.start();
    trust.start();
    rollouts.start();

    const info: ControlPlaneInfo = {
      controlPlaneId: id,
      publicKey: Buffer.from(signer.publicKey).toString('base64url'),
      version: CONTROL_PLANE_VERSION,
      apiUrl,
      mqttUrl: config.publicMqttUrl ?? brokerUrl,
      enrollment: config.enrollment,
      chain: rewards ? rewards.chainInfo : null,
    };
    this.#running = { db, broker, link, api, orchestrator, rewards, trust, rollouts, info };
    log.info(info, 'control plane ready');
    return info;
  }

  async stop(): Promise<void> {
    const running = this.#running;
    this.#running = null;
    if (!running) return;
    running.orchestrator.stop();
    running.rollouts.stop();
    await running.trust.stop();
    await running.api.stop();
    await running.link.stop();
    await running.broker?.stop();
    await running.rewards?.stop();
    running.db.close();
  }
}
