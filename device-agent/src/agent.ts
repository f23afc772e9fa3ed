import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { Logger } from 'pino';
import { createAuthToken, type AckBody, type HandbackBody, type OpenedMessage } from '@meshchain/protocol';
import { describeNode } from './capabilities.ts';
import type { AgentConfig } from './config/config.ts';
import { BindingPublisher, writeBinding } from './identity/binding.ts';
import { loadOrCreateIdentity, type NodeIdentity } from './identity/identity.ts';
import { JobRunner, type CurrentShard } from './jobs/job-runner.ts';
import { createLedBackend } from './led/create-backend.ts';
import { LedController, SimulatedLed, type LedBackend, type LedState } from './led/index.ts';
import { DEFAULT_RECONNECT_BACKOFF } from './link/backoff.ts';
import { NodeLink } from './link/node-link.ts';
import { ModelCache } from './models/model-cache.ts';
import { Outbox } from './outbox/outbox.ts';
import { loadOtaConfig, type OtaConfig } from './ota/ota-config.ts';
import { OtaService, type SystemOtaOptions } from './ota/ota-service.ts';
import { raucSystemOptions } from './ota/rauc-system.ts';
import { LlamaRuntime } from './runtimes/llama/index.ts';
import { StatusHub } from './status/status-hub.ts';
import { openAgentDatabase, type Db } from './store/db.ts';
import { isOverheating, TelemetrySampler, toTelemetryWire, type TelemetrySample, type TelemetrySource } from './telemetry/index.ts';
import { initialWebSnapshot, LocalWebServer, WebStatusStore, type WebActions } from './web/index.ts';

export interface AgentStatus {
  nodeId: string;
  connected: boolean;
  current: CurrentShard | null;
  outbox: number;
  rejectedMessages: number;
  led: LedState;
  overheating: boolean;
  /** The local web page, when it is enabled. */
  webUrl: string | null;
}

/** Fault injection for crash tests; never set in production. */
export interface AgentFaults {
  /** SIGKILL the process right after a result is stored in the outbox, before it is published. */
  crashAfterOutbox?: boolean;
}

export interface AgentOptions {
  faults?: AgentFaults;
  /** The owner asked for a restart from the web page; the CLI stops the agent and exits (systemd restarts it). */
  onRestart?: () => void;
  /** Replaces the box's own readings (tests, simulated fleets). */
  telemetrySource?: TelemetrySource;
  /** Replaces the configured LED (tests). */
  ledBackend?: LedBackend;
  /** OTA settings; default: from `MESHNODE_*` variables (see `ota/ota-config.ts`). */
  ota?: OtaConfig;
  /** `system` updates (RAUC on a box, a fake in tests); absent, system updates are refused. */
  system?: SystemOtaOptions;
  /** Start the llama worker at start (default) or at the first shard (fleets of simulated boxes). */
  startRuntime?: boolean;
}

interface Running {
  db: Db;
  identity: NodeIdentity;
  link: NodeLink;
  runtime: LlamaRuntime;
  runner: JobRunner;
  outbox: Outbox;
  models: ModelCache;
  hub: StatusHub;
  led: LedController;
  web: WebStatusStore;
  webServer: LocalWebServer | null;
  sampler: TelemetrySampler;
  binding: BindingPublisher;
  ota: OtaService;
  flushTimer: NodeJS.Timeout;
}

function engineVersion(): string {
  try {
    return (createRequire(import.meta.url)('node-llama-cpp/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The MeshNode agent: identity, MQTT link, job runner, model cache, outbox,
 * owner binding, telemetry, LED and the local web page. The constructor
 * does no work; `start()` wires the parts in order, `stop()` undoes it.
 */
export class Agent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #options: AgentOptions;
  #running: Running | null = null;
  #flushing = false;
  #pendingLogs: { ts: number; level: string; msg: string }[] = [];

  /** Log lines written here appear on the local web page (pino JSON lines, info and above). */
  readonly logStream = new Writable({
    write: (chunk: Buffer, _encoding, done) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        try {
          const entry = JSON.parse(line) as { time?: number; level?: number; msg?: string };
          if ((entry.level ?? 0) < 30 || !entry.msg) continue;
          const level = (entry.level ?? 30) >= 50 ? 'error' : (entry.level ?? 30) >= 40 ? 'warn' : 'info';
          const record = { ts: entry.time ?? Date.now(), level, msg: entry.msg };
          if (this.#running) this.#running.web.log(record);
          else this.#pendingLogs = [...this.#pendingLogs.slice(-99), record];
        } catch {
          // Not a JSON log line: nothing to show.
        }
      }
      done();
    },
  });

  constructor(config: AgentConfig, logger: Logger, options: AgentOptions = {}) {
    this.#config = config;
    this.#log = logger;
    this.#options = options;
  }

  get status(): AgentStatus {
    const r = this.#running;
    if (!r) throw new Error('agent is not started');
    return {
      nodeId: r.identity.nodeId,
      connected: r.link.connected,
      current: r.runner.current,
      outbox: r.outbox.size(),
      rejectedMessages: r.link.rejectedMessages,
      led: r.led.state,
      overheating: r.hub.overheating,
      webUrl: r.webServer?.url ?? null,
    };
  }

  async start(): Promise<{ nodeId: string; webUrl: string | null }> {
    const config = this.#config;
    const identity = await loadOrCreateIdentity(join(config.dataDir, 'identity.json'));
    const log = this.#log.child({ nodeId: identity.nodeId });
    if (identity.created) log.info('created node identity');

    // The owner's view first, so the LED shows "booting" while the rest comes up.
    const otaConfig = this.#options.ota ?? loadOtaConfig(process.env);
    const agentVersion = otaConfig.agentVersion;
    const web = new WebStatusStore(initialWebSnapshot({ nodeId: identity.nodeId, agentVersion, broker: config.mqttUrl }));
    for (const record of this.#pendingLogs) web.log(record);
    this.#pendingLogs = [];
    const led = new LedController({ backend: await this.#openLed(log) });
    const hub = new StatusHub(web, led);
    await led.start();
    hub.setPhase('booting');

    const db = openAgentDatabase(join(config.dataDir, 'agent.db'));
    const outbox = new Outbox(db, identity.signer, identity.nodeId);
    const models = new ModelCache({
      dir: join(config.dataDir, 'models'),
      db,
      budgetBytes: config.modelCacheBytes,
      logger: log.child({ component: 'models' }),
      authorization: () => `MeshNode ${createAuthToken(identity.signer, 'node')}`,
    });
    const runtime = new LlamaRuntime({ logger: log.child({ component: 'runtime' }), ...(config.gpu === 'auto' ? { gpu: 'auto' as const } : {}) });

    let link: NodeLink | null = null;
    const handback = (body: HandbackBody): void => {
      link?.publish('handback', body).catch((error: unknown) => log.warn({ err: error, shardId: body.shardId }, 'handback not sent; the lease will expire'));
    };
    const runner = new JobRunner({
      db,
      runtime,
      models,
      outbox,
      logger: log.child({ component: 'jobs' }),
      threads: config.threads,
      onResult: () => {
        this.#refreshWork();
        void this.#flushOutbox();
      },
      onCurrentChange: () => hub.setCurrent(runner.current),
      ...(this.#options.faults?.crashAfterOutbox ? { afterResultStored: () => process.kill(process.pid, 'SIGKILL') } : {}),
      onHandback: handback,
      onProgress: (body) => {
        if (link?.connected) link.publish('progress', body).catch((error: unknown) => log.debug({ err: error, shardId: body.shardId }, 'progress not sent'));
      },
      progressIntervalMs: config.progressIntervalMs,
    });
    const recovered = runner.recover();
    if (recovered > 0) log.warn({ shards: recovered }, 'resuming shards interrupted by a restart');

    const binding = new BindingPublisher({
      dataDir: config.dataDir,
      logger: log.child({ component: 'binding' }),
      publish: (body) => link?.publish('binding', body) ?? Promise.reject(new Error('link is not started')),
      connected: () => link?.connected ?? false,
      onOwner: (owner) => hub.setOwner(owner),
    });

    link = new NodeLink({
      url: config.mqttUrl,
      identity,
      controlPlaneId: config.controlPlaneId,
      logger: log.child({ component: 'link' }),
      backoff: DEFAULT_RECONNECT_BACKOFF,
      maxSkewMs: config.maxSkewMs,
      onMessage: (message) => this.#onMessage(message),
      onConnect: () => {
        const r = this.#running;
        if (!r) return;
        hub.setConnected(true, config.mqttUrl);
        r.link
          .publish('capabilities', { ...describeNode({ roles: config.roles, models: r.models.cached(), engineVersion: engineVersion() }), agentVersion })
          // Healthy, for an update being confirmed: connected and the control plane's broker has our capabilities.
          .then(() => markHealthy(), (error: unknown) => log.warn({ err: error }, 'capabilities not sent'));
        r.ota.onConnect();
        r.outbox.resetSchedule();
        void this.#flushOutbox();
        void r.binding.publish(true);
        const latest = r.sampler.latest();
        if (latest) this.#publishTelemetry(latest);
      },
      onDisconnect: () => hub.setConnected(false, config.mqttUrl),
    });

    const sampler = new TelemetrySampler({
      dataDir: config.dataDir,
      intervalMs: config.telemetry.intervalMs,
      ...(this.#options.telemetrySource ? { source: this.#options.telemetrySource } : {}),
    });
    sampler.on('sample', (sample: TelemetrySample) => {
      const hot = isOverheating(sample, { hotC: config.telemetry.hotC, coolC: config.telemetry.coolC }, hub.overheating);
      if (hot !== hub.overheating) log.warn({ cpuC: sample.cpu.temperatureC, overheating: hot }, hot ? 'overheating: taking no new work' : 'cooled down');
      hub.setTelemetry(sample, sampler.history(), hot);
      this.#publishTelemetry(sample);
    });
    sampler.on('failure', (error: unknown) => log.warn({ err: error }, 'telemetry sample failed'));

    const webServer = config.web.enabled
      ? new LocalWebServer({
          source: web,
          actions: this.#webActions(hub, binding),
          passwordFile: join(config.dataDir, 'web-password.json'),
          password: config.web.password ?? undefined,
          host: config.web.host,
          port: config.web.port,
          allowedHosts: config.web.allowedHosts,
          limits: { eventMinIntervalMs: config.web.eventIntervalMs },
          logger: log.child({ component: 'web' }),
        })
      : null;

    let markHealthy = (): void => {};
    const healthy = new Promise<void>((resolve) => {
      markHealthy = resolve;
    });
    const ota = new OtaService({
      config: otaConfig,
      dataDir: config.dataDir,
      logger: log.child({ component: 'ota' }),
      publish: (body) => (link?.connected ? link.publish('updateStatus', body) : Promise.reject(new Error('not connected'))),
      drain: (signal) => runner.drain(signal),
      resumeWork: () => runner.resume(),
      restart: async () => {
        const onRestart = this.#options.onRestart;
        if (!onRestart) {
          log.error('update installed, but this agent has no supervisor to restart it; the new release runs at the next start');
          return;
        }
        setImmediate(onRestart);
      },
      health: () => healthy,
      onDisplay: (display) => hub.setUpdate(display),
      authorization: () => `MeshNode ${createAuthToken(identity.signer, 'node')}`,
      system: this.#options.system ?? (otaConfig.systemUpdates === 'rauc' ? raucSystemOptions({ rebootCommand: otaConfig.rebootCommand }) : null),
    });

    if (this.#options.startRuntime !== false) await runtime.start();
    const flushTimer = setInterval(() => void this.#flushOutbox(), Math.min(5_000, config.ackTimeoutMs));
    flushTimer.unref();
    this.#running = { db, identity, link, runtime, runner, outbox, models, hub, led, web, webServer, sampler, binding, ota, flushTimer };
    // Recovers an interrupted update and, after one, confirms the new release (or puts the old one back).
    await ota.start();
    this.#refreshWork();
    await webServer?.start();
    sampler.start();
    binding.start();
    link.start();
    hub.setPhase('running');
    runner.kick();
    log.info({ mqttUrl: config.mqttUrl, controlPlaneId: config.controlPlaneId, pendingResults: outbox.size(), web: webServer?.url ?? null }, 'agent started');
    return { nodeId: identity.nodeId, webUrl: webServer?.url ?? null };
  }

  /** SIGTERM: finish (within the grace period) or hand back the current shard, then leave. */
  async stop(): Promise<void> {
    const r = this.#running;
    if (!r) return;
    this.#log.info({ graceMs: this.#config.shutdownGraceMs }, 'stopping');
    r.hub.setPhase('stopping');
    await r.ota.stop();
    await r.runner.stop(this.#config.shutdownGraceMs);
    await this.#flushOutbox();
    clearInterval(r.flushTimer);
    r.binding.stop();
    await r.sampler.stop();
    this.#running = null;
    await r.link.stop();
    await r.webServer?.stop();
    await r.led.stop();
    await r.runtime.stop();
    r.db.close();
  }

  async #openLed(log: Logger): Promise<LedBackend> {
    if (this.#options.ledBackend) return this.#options.ledBackend;
    try {
      return createLedBackend(this.#config.led);
    } catch (error) {
      // A missing LED must not keep a box from working: the page still mirrors the state.
      log.error({ err: error, led: this.#config.led }, 'LED unavailable; using a simulated LED');
      return new SimulatedLed();
    }
  }

  #webActions(hub: StatusHub, binding: BindingPublisher): WebActions {
    return {
      bindOwner: async (address) => {
        await writeBinding(this.#config.dataDir, address);
        await binding.publish(false);
      },
      identify: async (seconds) => hub.identify(seconds),
      restart: async () => {
        const onRestart = this.#options.onRestart;
        if (!onRestart) throw new Error('this agent was not started by a supervisor that can restart it');
        setImmediate(onRestart);
      },
    };
  }

  #publishTelemetry(sample: TelemetrySample): void {
    const r = this.#running;
    if (!r?.link.connected) return;
    r.link
      .publish('telemetry', { ...toTelemetryWire(sample), overheating: r.hub.overheating })
      .catch((error: unknown) => this.#log.debug({ err: error }, 'telemetry not sent'));
  }

  #refreshWork(): void {
    const r = this.#running;
    if (!r) return;
    const row = r.db
      .prepare(
        `SELECT COUNT(*) AS shards, COALESCE(SUM(tokens), 0) AS tokens, COALESCE(SUM(status = 'rejected'), 0) AS rejected,
         COALESCE(SUM(units), 0) AS units FROM work_log`,
      )
      .get() as { shards: number; tokens: number; rejected: number; units: number };
    r.hub.setWork({ shards: row.shards - row.rejected, tokens: row.tokens, rejected: row.rejected });
    // MCP depends on the control plane's pay rate at epoch close; the box shows the units it was credited.
    if (row.units > 0) r.hub.setEarnings({ units: row.units, mcp: null });
  }

  #onMessage(message: OpenedMessage): void {
    const r = this.#running;
    if (!r) return;
    if (message.kind === 'assignment') {
      const fresh = r.runner.accept(message.body);
      this.#log.info({ shardId: message.body.shardId, leaseId: message.body.leaseId, inputs: message.body.inputs.length, fresh }, 'assignment');
      r.runner.kick();
    } else if (message.kind === 'ack') {
      this.#onAck(r, message.body);
    } else if (message.kind === 'updateOffer') {
      this.#log.info({ rolloutId: message.body.rolloutId, releaseId: message.body.releaseId, force: message.body.force }, 'update offer');
      r.ota.handleOffer(message.body);
    } else if (message.kind === 'command') {
      this.#log.info({ command: message.body }, 'command');
      if (message.body.type === 'identify') r.hub.identify(message.body.seconds);
      else if (message.body.type === 'cancel') {
        const dropped = r.runner.cancel(message.body.jobId, message.body.leaseIds, message.body.reason);
        this.#log.warn({ jobId: message.body.jobId, dropped, reason: message.body.reason }, 'work cancelled by the control plane');
      }
    } else {
      this.#log.warn({ kind: message.kind }, 'unexpected message kind');
    }
  }

  #onAck(r: Running, ack: AckBody): void {
    const removed = r.outbox.acknowledge(ack.leaseId);
    const fields = { shardId: ack.shardId, status: ack.status, removed };
    if (ack.status === 'rejected') this.#log.warn({ ...fields, reason: ack.reason }, 'result rejected by the control plane');
    else this.#log.info(fields, 'result acknowledged');
    r.db.prepare(`UPDATE work_log SET status = ?, units = ? WHERE lease_id = ?`).run(ack.status, ack.units ?? 0, ack.leaseId);
    this.#refreshWork();
  }

  async #flushOutbox(): Promise<void> {
    const r = this.#running;
    if (!r || this.#flushing || !r.link.connected) return;
    this.#flushing = true;
    try {
      const now = Date.now();
      for (const entry of r.outbox.due(now, this.#config.maxSkewMs / 2)) {
        // mqtt.js never settles a QoS 1 publish whose connection dropped before its PUBACK
        // (it re-sends the packet itself after reconnecting): bound the wait so the flush
        // cannot hang; the outbox re-sends on its own schedule until the ack arrives.
        await withTimeout(r.link.publishEnvelope(entry.envelope), this.#config.ackTimeoutMs, 'no PUBACK');
        r.outbox.markSent(entry.id, Date.now(), this.#config.ackTimeoutMs);
      }
    } catch (error) {
      this.#log.warn({ err: error }, 'outbox flush interrupted; will retry');
    } finally {
      this.#flushing = false;
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
