import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createAuthToken, generateSeed, NodeCryptoSigner } from '@meshchain/protocol';
import { ApiClient, ApiError } from '../src/index.ts';
import { startControlPlane, type RunningControlPlane } from './helpers/harness.ts';

describe('HTTP API', () => {
  let cp: RunningControlPlane;
  let api: ApiClient;
  const model = Buffer.from(Array.from({ length: 10_000 }, (_, i) => i & 0xff));
  const sha = createHash('sha256').update(model).digest('hex');

  before(async () => {
    cp = await startControlPlane();
    api = new ApiClient(cp.info.apiUrl);
  });
  after(() => cp.stop());

  const put = (hash: string, body: Buffer, type = 'application/octet-stream'): Promise<Response> =>
    fetch(`${cp.info.apiUrl}/v1/models/${hash}`, { method: 'PUT', headers: { 'content-type': type }, body });

  it('stores a model only under its true hash and serves it with byte ranges', async () => {
    const wrong = await put('0'.repeat(64), model);
    assert.equal(wrong.status, 400);
    assert.match(((await wrong.json()) as { error: { message: string } }).error.message, /hash to/);
    assert.equal((await fetch(`${cp.info.apiUrl}/v1/models/${'0'.repeat(64)}`, { method: 'HEAD' })).status, 404, 'nothing stored');

    assert.equal((await put(sha, model)).status, 201);
    assert.equal((await put(sha, model)).status, 200, 'idempotent');
    const whole = await fetch(`${cp.info.apiUrl}/v1/models/${sha}`);
    assert.deepEqual(Buffer.from(await whole.arrayBuffer()), model);
    const part = await fetch(`${cp.info.apiUrl}/v1/models/${sha}`, { headers: { range: 'bytes=9000-' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers.get('content-range'), `bytes 9000-9999/10000`);
    assert.deepEqual(Buffer.from(await part.arrayBuffer()), model.subarray(9000));
    assert.equal((await fetch(`${cp.info.apiUrl}/v1/models/${sha}`, { headers: { range: 'bytes=20000-' } })).status, 416);
    assert.equal((await fetch(`${cp.info.apiUrl}/v1/models/not-a-hash`)).status, 400);
    assert.equal((await put(sha, model, 'text/plain')).status, 400);
  });

  it('validates jobs and says what is wrong', async () => {
    const cases: [unknown, RegExp][] = [
      [{ workload: 'infer', model: sha, prompts: [] }, /prompts/],
      [{ workload: 'train', model: sha, prompts: ['x'] }, /workload/],
      [{ workload: 'infer', model: 'abc', prompts: ['x'] }, /model/],
      [{ workload: 'infer', model: sha, prompts: ['x'], shardSize: 0 }, /shardSize/],
      [{ workload: 'infer', model: sha, prompts: ['x'], settings: { maxTokens: 600, contextSize: 512 } }, /below contextSize/],
      [{ workload: 'infer', model: sha, prompts: Array.from({ length: 40 }, () => 'x'.repeat(30_000)), shardSize: 64 }, /smaller --shard-size/],
      [{ workload: 'infer', model: sha, prompts: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'], shardSize: 9, settings: { maxTokens: 8000, contextSize: 9000 } }, /over the 1024 KiB limit/],
    ];
    for (const [body, pattern] of cases) {
      await assert.rejects(api.submitJob(body as never), (e: unknown) => e instanceof ApiError && e.status === 400 && pattern.test(e.message));
    }
    await assert.rejects(api.submitJob({ workload: 'infer', model: 'e'.repeat(64), prompts: ['x'] }), (e: unknown) => e instanceof ApiError && e.status === 404);
    const raw = await fetch(`${cp.info.apiUrl}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"oops' });
    assert.equal(raw.status, 400);
  });

  it('reports job progress, refuses output before completion, and 404s unknown jobs', async () => {
    const { job, progress } = await api.submitJob({ workload: 'infer', model: sha, prompts: ['a', 'b', 'c'], shardSize: 2 });
    assert.equal(job.shardCount, 2);
    assert.deepEqual(progress.inputs, { total: 3, completed: 0 });
    const status = await api.job(job.id);
    assert.deepEqual(status.shards.map((s) => s.inputs), [2, 1]);
    await assert.rejects(api.resultText(job.id), (e: unknown) => e instanceof ApiError && e.status === 409);
    await assert.rejects(api.manifest(job.id), (e: unknown) => e instanceof ApiError && e.status === 409);
    await assert.rejects(api.job('job_nope'), (e: unknown) => e instanceof ApiError && e.status === 404 && /not found/.test(e.message));
    await assert.rejects(api.manifest('job_nope'), (e: unknown) => e instanceof ApiError && e.status === 404);
    assert.equal((await api.jobs())[0]?.id, job.id);
  });

  it('tells the user when the control plane cannot be reached', async () => {
    await assert.rejects(new ApiClient('http://127.0.0.1:1').jobs(), (e: unknown) => e instanceof ApiError && /cannot reach the control plane/.test(e.message));
  });
});

describe('HTTP API with a token', () => {
  let cp: RunningControlPlane;
  before(async () => {
    cp = await startControlPlane({ apiToken: 'a-long-enough-api-token' });
  });
  after(() => cp.stop());

  it('refuses requests without the token and accepts them with it', async () => {
    await assert.rejects(new ApiClient(cp.info.apiUrl).jobs(), (e: unknown) => e instanceof ApiError && e.status === 401);
    assert.deepEqual(await new ApiClient(cp.info.apiUrl, { token: 'a-long-enough-api-token' }).jobs(), []);
    assert.equal((await fetch(`${cp.info.apiUrl}/healthz`)).status, 200);
  });

  it('lets nodes fetch models with their own token, and nobody else', async () => {
    const model = Buffer.from('model bytes');
    const sha = createHash('sha256').update(model).digest('hex');
    const upload = await fetch(`${cp.info.apiUrl}/v1/models/${sha}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream', authorization: 'Bearer a-long-enough-api-token' },
      body: model,
    });
    assert.equal(upload.status, 201);
    const node = new NodeCryptoSigner(generateSeed());
    const url = `${cp.info.apiUrl}/v1/models/${sha}`;
    const asNode = await fetch(url, { headers: { authorization: `MeshNode ${createAuthToken(node, 'node')}` } });
    assert.equal(asNode.status, 200);
    assert.deepEqual(Buffer.from(await asNode.arrayBuffer()), model);
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'MeshNode garbage' } })).status, 401);
    const expired = createAuthToken(node, 'node', { now: Date.now() - 7_200_000, ttlMs: 60_000 });
    assert.equal((await fetch(url, { headers: { authorization: `MeshNode ${expired}` } })).status, 401);
    const jobsAsNode = await fetch(`${cp.info.apiUrl}/v1/jobs`, { headers: { authorization: `MeshNode ${createAuthToken(node, 'node')}` } });
    assert.equal(jobsAsNode.status, 401, 'a node token opens model downloads only');
  });
});
