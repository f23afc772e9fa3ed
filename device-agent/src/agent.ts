import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import { bindingBodySchema, createAuthToken, type AckBody, type BindingBody, type HandbackBody, type OpenedMessage } from '@meshchain/protocol';
import type { AgentConfig } from './config/config.ts';
import { loadOrCreateIdentity, type NodeIdentity } from './identity/identity.ts';
import { JobRunner, type CurrentShard } from './jobs/job-runner.ts';
import { DEFAULT_RECONNECT_BACKOFF } from './link/backoff.ts';
import { NodeLink } from './link/node-link.ts';
import { ModelCache } from './models/model-cache.ts';
import { Outbox } from './outbox/outbox.ts';
import { LlamaRuntime } from './runtimes/llama/index.ts';
import { openAgentDatabase, type Db } from './store/db.ts';
import { describeNode } from './capabilities.ts';

export interface AgentStatus {
  nodeId: string;
  connected: boolean;
  current: CurrentShard | null;
  outbox: number;
  rejectedMessages: number;
}

/** Fault injection for crash tests; never set in production. */
export interface AgentFaults {
  /** SIGKILL the process right after a result is stored in the outbox, before it is published. */
  crashAfterOutbox?: boolean;
}

interface Running {
  db: Db;
  identity: NodeIdentity;
  link: NodeLink;
  runtime: LlamaRuntime;
  runner: JobRunner;
  outbox: Outbox;
  models: ModelCache;
  flushTimer: NodeJS.Timeout;
  bindingTimer: NodeJS.Timeout;
  bindingWatcher: FSWatcher | null;
}

/** `<dataDir>/binding.json`: the owner `meshnode bind` recorded; the running agent publishes it. */
export const BINDING_FILE = 'binding.json';
/** How often the running agent looks for a changed binding file (it also watches the directory). */
const BINDING_POLL_MS = 2_000;

/** The recorded binding, or null when there is none (or it is unreadable: the reason is thrown). */
export async function readBinding(dataDir: string): Promise<BindingBody | null> {
  let text: string;
  try {
    text = await readFile(join(dataDir, BINDING_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const parsed = bindingBodySchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${BINDING_FILE} is not a valid binding: ${parsed.error.issues[0]?.message ?? 'bad format'}`);
  return parsed.data;
}

/** Records a binding atomically (write, then rename); `owner` must be a valid EVM address. */
export async function writeBinding(dataDir: string, owner: string, boundAt = Date.now()): Promise<BindingBody> {
  const body = bindingBodySchema.parse({ owner, boundAt });
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const tmp = join(dataDir, `${BINDING_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, `${JSON.stringify({ version: 1, ...body }, null, 2)}\n`, { mode: 0o644 });
  await rename(tmp, join(dataDir, BINDING_FILE));
  return body;
}

function engineVersion(): string {
  try {
    return (createRequire(import.meta.url)('node-llama-cpp/package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/**
 * The MeshNode agent: identity, MQTT link, job runner, model cache and
 * outbox. The constructor does no work; `start()` wires the parts in order.
 */
export class Agent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  #running: Running | null = null;
  #flushing = false;
  #publishedBinding: string | null = null;
  #bindingProblem: string | null = null;

  readonly #faults: AgentFaults;

  constructor(config: AgentConfig, logger: Logger, faults: AgentFaults = {}) {
    this.#config = config;
    this.#log = logger;
    this.#faults = faults;
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
    };
  }

  async start(): Promise<{ nodeId: string }> {
    const config = this.#config;
    const identity = await loadOrCreateIdentity(join(config.dataDir, 'identity.json'));
    const log = this.#log.child({ nodeId: identity.nodeId });
    if (identity.created) log.info('created node identity');

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
      onResult: () => void this.#flushOutbox(),
      ...(this.#faults.crashAfterOutbox ? { afterResultStored: () => process.kill(process.pid, 'SIGKILL') } : {}),
      onHandback: handback,
    });
    const recovered = runner.recover();
    if (recovered > 0) log.warn({ shards: recovered }, 'resuming shards interrupted by a restart');

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
        r.link
          .publish('capabilities', describeNode({ roles: config.roles, models: r.models.cached(), engineVersion: engineVersion() }))
          .catch((error: unknown) => log.warn({ err: error }, 'capabilities not sent'));
        r.outbox.resetSchedule();
        void this.#flushOutbox();
        void this.#publishBinding(true);
      },
    });

    await runtime.start();
    const flushTimer = setInterval(() => void this.#flushOutbox(), Math.min(5_000, config.ackTimeoutMs));
    flushTimer.unref();
    const bindingTimer = setInterval(() => void this.#publishBinding(false), BINDING_POLL_MS);
    bindingTimer.unref();
    let bindingWatcher: FSWatcher | null = null;
    try {
      // `meshnode bind` renames the file into place: publish at once rather than at the next poll.
      bindingWatcher = watch(config.dataDir, (_event, file) => {
        if (file === BINDING_FILE) void this.#publishBinding(false);
      });
      bindingWatcher.on('error', () => bindingWatcher?.close());
    } catch {
      bindingWatcher = null;
    }
    this.#running = { db, identity, link, runtime, runner, outbox, models, flushTimer, bindingTimer, bindingWatcher };
    link.start();
    runner.kick();
    log.info({ mqttUrl: config.mqttUrl, controlPlaneId: config.controlPlaneId, pendingResults: outbox.size() }, 'agent started');
    return { nodeId: identity.nodeId };
  }

  /** SIGTERM: finish (within the grace period) or hand back the current shard, then leave. */
  async stop(): Promise<void> {
    const r = this.#running;
    if (!r) return;
    this.#log.info({ graceMs: this.#config.shutdownGraceMs }, 'stopping');
    await r.runner.stop(this.#config.shutdownGraceMs);
    await this.#flushOutbox();
    clearInterval(r.flushTimer);
    clearInterval(r.bindingTimer);
    r.bindingWatcher?.close();
    this.#running = null;
    await r.link.stop();
    await r.runtime.stop();
    r.db.close();
  }

  /** Publishes the recorded binding (retained) when it changed, or on every connect (`always`). */
  async #publishBinding(always: boolean): Promise<void> {
    const r = this.#running;
    if (!r || !r.link.connected) return;
    let binding: BindingBody | null;
    try {
      binding = await readBinding(this.#config.dataDir);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (reason !== this.#bindingProblem) this.#log.warn({ reason }, 'binding file unreadable; run meshnode bind <0x…> again');
      this.#bindingProblem = reason;
      return;
    }
    this.#bindingProblem = null;
    const key = binding ? `${binding.owner}@${binding.boundAt}` : null;
    if (!binding || (!always && key === this.#publishedBinding)) return;
    try {
      await r.link.publish('binding', binding);
      if (key !== this.#publishedBinding) this.#log.info({ owner: binding.owner, boundAt: binding.boundAt }, 'binding published');
      this.#publishedBinding = key;
    } catch (error) {
      this.#log.warn({ err: error }, 'binding not sent; will retry');
    }
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
    } else {
      this.#log.warn({ kind: message.kind }, 'unexpected message kind');
    }
  }

  #onAck(r: Running, ack: AckBody): void {
    const removed = r.outbox.acknowledge(ack.leaseId);
    const fields = { shardId: ack.shardId, status: ack.status, removed };
    if (ack.status === 'rejected') this.#log.warn({ ...fields, reason: ack.reason }, 'result rejected by the control plane');
    else this.#log.info(fields, 'result acknowledged');
    r.db
      .prepare(`UPDATE work_log SET status = ? WHERE lease_id = ?`)
      .run(ack.status, ack.leaseId);
  }

  async #flushOutbox(): Promise<void> {
    const r = this.#running;
    if (!r || this.#flushing || !r.link.connected) return;
    this.#flushing = true;
    try {
      const now = Date.now();
      for (const entry of r.outbox.due(now, this.#config.maxSkewMs / 2)) {
        await r.link.publishEnvelope(entry.envelope);
        r.outbox.markSent(entry.id, Date.now(), this.#config.ackTimeoutMs);
      }
    } catch (error) {
      this.#log.warn({ err: error }, 'outbox flush interrupted; will retry');
    } finally {
      this.#flushing = false;
    }
  }
}
