import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { ModelFetchError } from '../src/index.ts';
import { ModelCache } from '../src/models/model-cache.ts';
import { openAgentDatabase, type Db } from '../src/store/db.ts';

const blob = (seed: number, size: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('model cache', () => {
  let dir = '';
  let server: Server;
  let base = '';
  const files = new Map<string, Buffer>();
  const ranges: (string | undefined)[] = [];
  let db: Db;

  before(async () => {
    server = createServer((req, res) => {
      const body = files.get(req.url ?? '');
      if (!body) return void res.writeHead(404).end();
      ranges.push(req.headers.range);
      const match = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (match) {
        const start = Number(match[1]);
        res.writeHead(206, { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` }).end(body.subarray(start));
      } else res.writeHead(200).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const address = server.address();
    base = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  });
  beforeEach(async () => {
    if (dir) {
      db.close();
      await rm(dir, { recursive: true, force: true });
    }
    dir = await mkdtemp(join(tmpdir(), 'meshnode-models-'));
    db = openAgentDatabase(join(dir, 'agent.db'));
    ranges.length = 0;
  });
  after(async () => {
    db.close();
    await rm(dir, { recursive: true, force: true });
    await new Promise((resolve) => server.close(resolve));
  });

  const cache = (budgetBytes = 1 << 30): ModelCache => new ModelCache({ dir: join(dir, 'models'), db, budgetBytes, logger: pino({ level: 'silent' }) });

  it('fetches, verifies and then serves from disk without a second download', async () => {
    const data = blob(1, 50_000);
    files.set('/m1', data);
    const models = cache();
    const ref = { sha256: sha(data), size: data.length, url: `${base}/m1` };
    const path = await models.ensure(ref);
    assert.deepEqual(await readFile(path), data);
    assert.equal(await models.ensure(ref), path);
    assert.equal(ranges.length, 1, 'the second call used the cached copy');
    assert.deepEqual(models.cached(), [ref.sha256]);
  });

  it('resumes a partial download with a byte range', async () => {
    const data = blob(2, 80_000);
    files.set('/m2', data);
    const models = cache();
    const ref = { sha256: sha(data), size: data.length, url: `${base}/m2` };
    await mkdir(join(dir, 'models'), { recursive: true });
    await writeFile(join(dir, 'models', `${ref.sha256}.part`), data.subarray(0, 30_000));
    const path = await models.ensure(ref);
    assert.deepEqual(ranges, ['bytes=30000-']);
    assert.deepEqual(await readFile(path), data);
  });

  it('refuses bytes that do not match the hash, keeps nothing, and says why', async () => {
    const data = blob(3, 10_000);
    files.set('/m3', data);
    const models = cache();
    const ref = { sha256: sha(blob(4, 10_000)), size: data.length, url: `${base}/m3` };
    await assert.rejects(models.ensure(ref), (error: unknown) => error instanceof ModelFetchError && /does not match its hash/.test(error.message));
    assert.deepEqual(await readdir(join(dir, 'models')), [], 'no partial or final file left');
    assert.deepEqual(models.cached(), []);
  });

  it('refuses a body larger than declared and an unreachable server with clear errors', async () => {
    const data = blob(5, 10_000);
    files.set('/m5', data);
    const models = cache();
    await assert.rejects(models.ensure({ sha256: sha(data), size: 5_000, url: `${base}/m5` }), ModelFetchError);
    await assert.rejects(models.ensure({ sha256: sha(data), size: data.length, url: 'http://127.0.0.1:1/none' }), /cannot fetch model/);
    await assert.rejects(models.ensure({ sha256: sha(data), size: data.length, url: `${base}/missing` }), /HTTP 404/);
  });

  it('evicts the least recently used models past the budget', async () => {
    const models = cache(25_000);
    const refs = [6, 7, 8].map((seed) => {
      const data = blob(seed, 10_000);
      files.set(`/e${seed}`, data);
      return { sha256: sha(data), size: data.length, url: `${base}/e${seed}` };
    });
    for (const ref of refs) await models.ensure(ref);
    assert.deepEqual(new Set(models.cached()), new Set([refs[1]?.sha256, refs[2]?.sha256]));
    await assert.rejects(stat(models.pathOf(refs[0]?.sha256 ?? '')));
  });
});
