// HTTP routes of OTA releases (registered by the ApiServer).
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { parseRange } from '../api/range.ts';
import { InvalidRequestError } from '../errors.ts';
import type { ArtifactStore } from './artifact-store.ts';
import type { ReleaseStore } from './release-store.ts';

const SHA256 = /^[0-9a-f]{64}$/;

export interface OtaRoutesOptions {
  artifacts: ArtifactStore;
  releases: ReleaseStore;
}

/**
 * PUT  /v1/artifacts/:sha256   upload a release artifact (application/octet-stream), stored only if it hashes to :sha256
 * GET  /v1/artifacts/:sha256   the artifact bytes, with one byte range (HEAD too)
 * POST /v1/releases            register a signed release `{ manifest, publicKey, signature }`
 * GET  /v1/releases            every release, newest first
 * GET  /v1/releases/:id        one release and its signed manifest
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
}

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
