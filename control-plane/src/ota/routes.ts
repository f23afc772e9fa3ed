// HTTP routes of OTA releases (registered by the ApiServer).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { zodSummary } from '@meshchain/protocol';
import { z } from 'zod';
import { parseRange } from '../api/range.ts';
import { InvalidRequestError } from '../errors.ts';
import type { ArtifactStore } from './artifact-store.ts';
import type { ReleaseStore } from './release-store.ts';
import type { RolloutRunner } from './rollout-runner.ts';

const SHA256 = /^[0-9a-f]{64}$/;

export interface OtaRoutesOptions {
  artifacts: ArtifactStore;
  releases: ReleaseStore;
  /** Rollouts; absent, the rollout routes are not registered. */
  rollouts?: RolloutRunner;
}

/**
 * PUT  /v1/artifacts/:sha256   upload a release artifact (application/octet-stream), stored only if it hashes to :sha256
 * GET  /v1/artifacts/:sha256   the artifact bytes, with one byte range (HEAD too)
 * POST /v1/releases            register a signed release `{ manifest, publicKey, signature }`
 * GET  /v1/releases            every release, newest first
 * GET  /v1/releases/:id        one release and its signed manifest
 * POST /v1/rollouts            start a rollout (see `startRolloutSchema`)
 * GET  /v1/rollouts            every rollout, newest first
 * GET  /v1/rollouts/:id        one rollout: per-stage counts, devices, skipped devices
 * GET  /v1/rollouts/:id/devices/:node   one device's state in it and every report it sent
 * POST /v1/rollouts/:id/pause|resume|abort
 * PUT  /v1/devices/:id/ota     pin a device to a release, exclude it, set its tags
 */
export function registerOtaRoutes(app: FastifyInstance, options: OtaRoutesOptions): void {
  const { artifacts, releases } = options;

  app.put<{ Params: { sha256: string } }>('/v1/artifacts/:sha256', async (req, reply) => {
    const { sha256 } = req.params;
    if (!SHA256.test(sha256)) throw new InvalidRequestError('artifact id must be a lowercase sha256 hex digest');
    if (!req.headers['content-type']?.startsWith('application/octet-stream')) throw new InvalidRequestError('upload the artifact as application/octet-stream');
    const existing = artifacts.find(sha256);
    if (existing && (await artifacts.verifyPresent(sha256))) {
      (req.body as Readable).resume();
      return reply.code(200).send({ artifact: { sha256, size: existing.size }, created: false });
    }
    const artifact = await artifacts.put(req.body as Readable, sha256);
    return reply.code(201).send({ artifact: { sha256: artifact.sha256, size: artifact.size }, created: true });
  });

  // Fastify answers HEAD through this route too (exposeHeadRoutes).
  app.get<{ Params: { sha256: string } }>('/v1/artifacts/:sha256', async (req, reply) => sendArtifact(artifacts, req, reply));

  app.post<{ Body: unknown }>('/v1/releases', async (req, reply) => {
    const { release, created } = releases.registerRelease(req.body);
    return reply.code(created ? 201 : 200).send({ release, created });
  });

  app.get('/v1/releases', async () => ({ releases: releases.listReleases() }));

  app.get<{ Params: { id: string } }>('/v1/releases/:id', async (req) => ({
    release: releases.getRelease(req.params.id),
    signed: releases.signedRelease(req.params.id),
  }));

  const rollouts = options.rollouts;
  if (!rollouts) return;
  app.post<{ Body: unknown }>('/v1/rollouts', async (req, reply) => reply.code(201).send({ rollout: rollouts.startRollout(req.body) }));
  app.get('/v1/rollouts', async () => ({ rollouts: rollouts.list() }));
  app.get<{ Params: { id: string } }>('/v1/rollouts/:id', async (req) => rollouts.view(req.params.id));
  app.get<{ Params: { id: string; node: string } }>('/v1/rollouts/:id/devices/:node', async (req) => rollouts.deviceHistory(req.params.id, req.params.node));
  app.post<{ Params: { id: string; action: string }; Body: { reason?: unknown } | null }>('/v1/rollouts/:id/:action', async (req) => {
    const { id, action } = req.params;
    if (action === 'pause') return { rollout: rollouts.pause(id) };
    if (action === 'resume') return { rollout: rollouts.resume(id) };
    if (action === 'abort') {
      const reason = req.body?.reason;
      if (reason !== undefined && (typeof reason !== 'string' || reason.length > 512)) throw new InvalidRequestError('reason must be a string of at most 512 characters');
      return { rollout: rollouts.abort(id, reason) };
    }
    throw new InvalidRequestError(`unknown rollout action "${action}"`, { details: 'pause, resume or abort' });
  });
  app.put<{ Params: { id: string }; Body: unknown }>('/v1/devices/:id/ota', async (req) => {
    const parsed = deviceOtaSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw new InvalidRequestError(`invalid device settings: ${zodSummary(parsed.error)}`);
    const change = Object.fromEntries(Object.entries(parsed.data).filter(([, v]) => v !== undefined)) as typeof parsed.data;
    return { device: rollouts.updateDevice(req.params.id, change) };
  });
}

const deviceOtaSchema = z
  .object({
    pinnedRelease: z.string().min(1).max(128).nullable().optional(),
    excluded: z.boolean().optional(),
    tags: z.record(z.string().min(1).max(64), z.string().max(256)).optional(),
  })
  .strict();

/** Serves an artifact by hash with byte ranges, so interrupted downloads resume. */
async function sendArtifact(artifacts: ArtifactStore, req: FastifyRequest<{ Params: { sha256: string } }>, reply: FastifyReply): Promise<FastifyReply> {
  const { sha256 } = req.params;
  if (!SHA256.test(sha256)) throw new InvalidRequestError('artifact id must be a lowercase sha256 hex digest');
  const artifact = artifacts.get(sha256);
  const range = parseRange(req.headers.range, artifact.size);
  void reply.header('accept-ranges', 'bytes').header('etag', `"${sha256}"`).type('application/octet-stream');
  if (range === 'unsatisfiable') return reply.code(416).header('content-range', `bytes */${artifact.size}`).send();
  const { start, end } = range ?? { start: 0, end: artifact.size - 1 };
  void reply.header('content-length', end - start + 1);
  if (range) void reply.code(206).header('content-range', `bytes ${start}-${end}/${artifact.size}`);
  if (req.method === 'HEAD') return reply.send();
  return reply.send(createReadStream(artifact.path, { start, end }));
}
