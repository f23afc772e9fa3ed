import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import { timingSafeEqual } from 'node:crypto';
import { commandBodySchema, verifyAuthToken, type CommandBody } from '@meshchain/protocol';
import type { Logger } from 'pino';
import type { Aggregator } from '../aggregate/aggregator.ts';
import { ConflictError, ControlPlaneError, InvalidRequestError, NotFoundError } from '../errors.ts';
import type { SpotChecker } from '../trust/spot-checker.ts';
import type { JobStore } from '../jobs/job-store.ts';
import type { ModelStore } from '../models/model-store.ts';
import type { NodeStore } from '../nodes/node-store.ts';
import { parseJobRequest } from './job-request.ts';
import { parseRange } from './range.ts';
import { registerRewardRoutes } from '../rewards/routes.ts';
import { parsePriority } from '../scheduler/priority.ts';
import type { RewardsService } from '../rewards/service.ts';
import { registerOtaRoutes, type OtaRoutesOptions } from '../ota/routes.ts';

export interface ApiOptions {
  host: string;
  port: number;
  apiToken: string | null;
  logger: Logger;
  info: () => Record<string, unknown>;
  jobs: JobStore;
  nodes: NodeStore;
  models: ModelStore;
  aggregator: Aggregator;
  /** A job was created: plan its shards now rather than at the next tick. */
  onJobSubmitted: () => void;
  /** Cancels a running job (throws NotFoundError / ConflictError); absent: no cancel route. */
  cancelJob?: (jobId: string, reason?: string) => { revoked: unknown[]; droppedShards: number };
  /** Sends a signed command to one node. */
  sendCommand: (nodeId: string, command: CommandBody) => Promise<void>;
  /** The rewards API; null when the control plane runs without a chain. */
  rewards?: RewardsService | null;
  /** Spot checks and node reputation. */
  trust?: SpotChecker;
  /** OTA releases and their artifacts; absent: no OTA routes. */
  ota?: OtaRoutesOptions;
}

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Nodes fetch models with their own broker token (`Authorization: MeshNode
 * <token>`), so an API token for engineers does not lock the fleet out.
 */
function isNodeModelDownload(method: string, url: string, authorization: string | undefined): boolean {
  if ((method !== 'GET' && method !== 'HEAD') || !/^\/v1\/(?:models|artifacts)\/[0-9a-f]{64}$/.test(url)) return false;
  if (!authorization?.startsWith('MeshNode ')) return false;
  try {
    return verifyAuthToken(authorization.slice('MeshNode '.length)).role === 'node';
  } catch {
    return false;
  }
}

/** The control plane's HTTP API (JSON; JSONL for job output; raw bytes for models). */
export class ApiServer {
  readonly #o: ApiOptions;
  #app: FastifyInstance | null = null;

  constructor(options: ApiOptions) {
    this.#o = options;
  }

  get url(): string {
    const address = this.#app?.server.address() as AddressInfo | null;
    if (!address) throw new Error('API is not started');
    return `http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port}`;
  }

  async start(): Promise<{ url: string }> {
    // Fastify's own request logging stays off; failures are logged by the error handler.
    const app = Fastify({ logger: false, bodyLimit: 64 * 1024 * 1024 });
    this.#app = app;
    // Model uploads stream straight to the store, hashed on the way.
    app.addContentTypeParser('application/octet-stream', (_req, payload, done) => done(null, payload));
    app.setErrorHandler((error, _req, reply) => this.#sendError(reply, error));
    app.setNotFoundHandler((req, reply) => {
      void reply.code(404).send({ error: { code: 'NotFound', message: `no route ${req.method} ${req.url}` } });
    });
    if (this.#o.apiToken) {
      const expected = Buffer.from(`Bearer ${this.#o.apiToken}`);
      app.addHook('onRequest', async (req, reply) => {
        if (req.url === '/healthz' || isNodeModelDownload(req.method, req.url, req.headers.authorization)) return;
        const given = Buffer.from(req.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          return reply.code(401).send({ error: { code: 'Unauthorized', message: 'missing or wrong API token (set MESHCHAIN_API_TOKEN)' } });
        }
      });
    }
    this.#routes(app);
    await app.listen({ host: this.#o.host, port: this.#o.port });
    return { url: this.url };
  }

  async stop(): Promise<void> {
    const app = this.#app;
    this.#app = null;
    await app?.close();
  }

  #routes(app: FastifyInstance): void {
    const { jobs, nodes, models, aggregator, onJobSubmitted, sendCommand } = this.#o;
    registerRewardRoutes(app, this.#o.rewards ?? null);
    if (this.#o.ota) registerOtaRoutes(app, this.#o.ota);

    app.get('/v1/info', async () => this.#o.info());
    app.get('/healthz', async () => ({ ok: true }));

    app.post('/v1/jobs', async (req, reply) => {
      const request = parseJobRequest(req.body);
      if (request.modelSha256 !== null) models.get(request.modelSha256);
      const job = jobs.createJob({ ...request, priority: parsePriority(req.body) });
      onJobSubmitted();
      return reply.code(201).send({ job, progress: jobs.progress(job) });
    });

    app.get('/v1/jobs', async () => ({ jobs: jobs.listJobs().map((job) => ({ ...job, progress: jobs.progress(job) })) }));

    app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => {
      const job = jobs.getJob(req.params.id);
      const shards = jobs.shardsOf(job.id).map((s) => ({
        id: s.id,
        index: s.idx,
        state: s.state,
        nodeId: s.nodeId,
        attempts: s.attempts,
        inputs: s.inputs.length,
        resultHash: s.resultHash,
        lastError: s.lastError,
      }));
      return { job, progress: jobs.progress(job), shards, events: jobs.eventsOf(job.id), trust: this.#o.trust?.jobReport(job.id) ?? null };
    });

    app.post<{ Params: { id: string }; Body: { reason?: unknown } | null }>('/v1/jobs/:id/cancel', async (req) => {
      const cancel = this.#o.cancelJob;
      if (!cancel) throw new ConflictError('this control plane cannot cancel jobs');
      const reason = req.body?.reason;
      if (reason !== undefined && (typeof reason !== 'string' || reason.length > 200)) throw new InvalidRequestError('reason must be a string of at most 200 characters');
      const report = cancel(req.params.id, reason);
      const job = jobs.getJob(req.params.id);
      return { job, progress: jobs.progress(job), droppedShards: report.droppedShards, revokedLeases: report.revoked.length };
    });

    app.get<{ Params: { id: string } }>('/v1/jobs/:id/result', async (req, reply) => {
      const lines = aggregator.output(req.params.id);
      return reply.type('application/x-ndjson').send(lines.map((line) => JSON.stringify(line)).join('\n') + '\n');
    });

    app.get<{ Params: { id: string } }>('/v1/jobs/:id/manifest', async (req) => aggregator.manifest(req.params.id));

    app.get('/v1/nodes', async () => ({ nodes: nodes.list().map((n) => ({ ...n, trust: this.#o.trust?.trustOf(n.id) ?? null })) }));

    app.post<{ Params: { id: string } }>('/v1/nodes/:id/release', async (req) => {
      const node = nodes.get(req.params.id);
      if (!node) throw new NotFoundError(`node ${req.params.id}`, { details: 'list nodes with `meshchain nodes`' });
      const released = this.#o.trust?.release(node.id) ?? false;
      if (!released) throw new ConflictError(`node ${node.id} is not quarantined`);
      this.#o.onJobSubmitted();
      return { nodeId: node.id, released };
    });

    app.get<{ Params: { id: string } }>('/v1/nodes/:id', async (req) => {
      const node = nodes.get(req.params.id);
      if (!node) throw new NotFoundError(`node ${req.params.id}`, { details: 'list nodes with `meshchain nodes`' });
      return { node: { ...node, trust: this.#o.trust?.trustOf(node.id) ?? null }, telemetry: nodes.telemetryHistory(node.id) };
    });

    app.post<{ Params: { id: string }; Body: { seconds?: unknown } }>('/v1/nodes/:id/identify', async (req, reply) => {
      const node = nodes.get(req.params.id);
      if (!node) throw new NotFoundError(`node ${req.params.id}`, { details: 'list nodes with `meshchain nodes`' });
      const parsed = commandBodySchema.safeParse({ type: 'identify', seconds: req.body?.seconds ?? 60 });
      if (!parsed.success) throw new InvalidRequestError('seconds must be a whole number from 1 to 600');
      await sendCommand(node.id, parsed.data);
      return reply.code(202).send({ nodeId: node.id, command: parsed.data, online: node.presence === 'online' });
    });

    app.put<{ Params: { sha256: string }; Querystring: { name?: string } }>('/v1/models/:sha256', async (req, reply) => {
      const { sha256 } = req.params;
      if (!SHA256.test(sha256)) throw new InvalidRequestError('model id must be a lowercase sha256 hex digest');
      if (!req.headers['content-type']?.startsWith('application/octet-stream')) {
        throw new InvalidRequestError('upload the model as application/octet-stream');
      }
      const existing = models.find(sha256);
      if (existing && (await models.verifyPresent(sha256))) {
        (req.body as Readable).resume();
        return reply.code(200).send({ model: { sha256, size: existing.size }, created: false });
      }
      const name = req.query.name?.slice(0, 200);
      const model = await models.put(req.body as Readable, { expectedSha256: sha256, ...(name ? { name } : {}) });
      return reply.code(201).send({ model: { sha256: model.sha256, size: model.size }, created: true });
    });

    // Fastify answers HEAD through this route too (exposeHeadRoutes).
    app.get<{ Params: { sha256: string } }>('/v1/models/:sha256', async (req, reply) => this.#sendModel(req, reply));
  }

  /** Serves a model by hash with byte ranges, so interrupted downloads resume. */
  async #sendModel(req: FastifyRequest<{ Params: { sha256: string } }>, reply: FastifyReply): Promise<FastifyReply> {
    const { sha256 } = req.params;
    if (!SHA256.test(sha256)) throw new InvalidRequestError('model id must be a lowercase sha256 hex digest');
    const model = this.#o.models.get(sha256);
    const range = parseRange(req.headers.range, model.size);
    void reply.header('accept-ranges', 'bytes').header('etag', `"${sha256}"`).type('application/octet-stream');
    if (range === 'unsatisfiable') {
      return reply.code(416).header('content-range', `bytes */${model.size}`).send();
    }
    const { start, end } = range ?? { start: 0, end: model.size - 1 };
    void reply.header('content-length', end - start + 1);
    if (range) void reply.code(206).header('content-range', `bytes ${start}-${end}/${model.size}`);
    if (req.method === 'HEAD') return reply.send();
    return reply.send(createReadStream(model.path, { start, end }));
  }

  #sendError(reply: FastifyReply, error: unknown): FastifyReply {
    if (error instanceof ControlPlaneError) {
      return reply.code(error.status).send({ error: { code: error.name, message: error.shortMessage, details: error.details } });
    }
    const fastifyError = error as { statusCode?: number; code?: string; message?: string };
    if (fastifyError.statusCode && fastifyError.statusCode < 500) {
      return reply
        .code(fastifyError.statusCode)
        .send({ error: { code: fastifyError.code ?? 'BadRequest', message: fastifyError.message ?? 'bad request' } });
    }
    this.#o.logger.error({ err: error }, 'API request failed');
    return reply.code(500).send({ error: { code: 'InternalError', message: 'internal error; see the control-plane log' } });
  }
}
