import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { readGgufFileInfo } from 'node-llama-cpp';
import { LlamaRuntime } from '@meshchain/device-agent/runtimes/llama';
import { TINY_MODEL_SHAPE, tinyModelBytes, writeTinyModel } from '../src/model/index.ts';
import { createPrng } from '../src/model/prng.ts';

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

describe('tiny model generator', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshchain-model-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('the same seed writes byte-identical files with the same sha256', async () => {
    const a = await writeTinyModel({ path: join(dir, 'a.gguf'), seed: 42 });
    const b = await writeTinyModel({ path: join(dir, 'nested', 'b.gguf'), seed: 42 });
    const [bytesA, bytesB] = await Promise.all([readFile(a.path), readFile(b.path)]);
    assert.ok(bytesA.equals(bytesB));
    assert.equal(a.sha256, b.sha256);
    assert.equal(a.sha256, sha256(bytesA));
    assert.equal(a.size, bytesA.length);
    assert.ok(Buffer.from(tinyModelBytes(42)).equals(bytesA));
  });

  test('another seed gives other weights', () => {
    const one = tinyModelBytes(1);
    const two = tinyModelBytes(2);
    assert.equal(one.length, two.length);
    assert.notEqual(sha256(one), sha256(two));
  });

  test('the file is a GGUF v3 llama model of the documented shape', async () => {
    const written = await writeTinyModel({ path: join(dir, 'shape.gguf') });
    const info = await readGgufFileInfo(written.path);
    assert.equal(info.version, 3);
    const metadata = info.metadata;
    assert.equal(metadata.general.architecture, 'llama');
    const llama = (metadata as unknown as { llama: Record<string, unknown> }).llama;
    assert.equal(llama.context_length, TINY_MODEL_SHAPE.contextLength);
    assert.equal(llama.embedding_length, TINY_MODEL_SHAPE.embeddingLength);
    assert.equal(llama.block_count, TINY_MODEL_SHAPE.blockCount);
    assert.equal(llama.feed_forward_length, TINY_MODEL_SHAPE.feedForwardLength);
    assert.equal(metadata.tokenizer.ggml.model, 'llama');
    const tokens = metadata.tokenizer.ggml.tokens;
    assert.equal(tokens.length, 417);
    assert.deepEqual(tokens.slice(0, 4), ['<unk>', '<s>', '</s>', '<0x00>']);
    assert.equal(tokens[258], '<0xFF>');
    assert.ok(tokens.includes('\u2581mesh'));
    const tensorNames = (info.fullTensorInfo ?? []).map((tensor) => tensor.name);
    assert.ok(tensorNames.includes('output.weight'));
    assert.ok(tensorNames.includes('blk.1.ffn_down.weight'));
    assert.equal(tensorNames.length, 3 + 9 * TINY_MODEL_SHAPE.blockCount);
  });

  test('the seeded PRNG repeats its stream for a seed and differs across seeds', () => {
    const draw = (seed: number): number[] => {
      const prng = createPrng(seed);
      return Array.from({ length: 8 }, () => prng.next());
    };
    assert.deepEqual(draw(7), draw(7));
    assert.notDeepEqual(draw(7), draw(8));
    assert.notDeepEqual(draw(1), draw(2 ** 32 + 1));
    assert.ok(draw(3).every((value) => value >= 0 && value < 1));
    assert.throws(() => createPrng(-1), RangeError);
  });

  test('the CLI writes the model and prints path, size and sha256', async () => {
    const out = join(dir, 'cli.gguf');
    const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
    const cli = fileURLToPath(new URL('../src/model/cli.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [tsxCli, cli, '--out', out, '--seed', '5']);
    const expected = tinyModelBytes(5);
    assert.match(stdout, new RegExp(`path +${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    assert.match(stdout, new RegExp(`size +${expected.length}\\b`));
    assert.match(stdout, new RegExp(`sha256 +${sha256(expected)}`));
    assert.ok(Buffer.from(expected).equals(await readFile(out)));
  });

  test('llama.cpp loads it and greedy generation wanders over many tokens', async (t) => {
    const model = await writeTinyModel({ path: join(dir, 'run.gguf') });
    const runtime = new LlamaRuntime();
    t.after(() => runtime.stop());
    const loaded = await runtime.load(model);
    assert.equal(loaded.vocabSize, 417);
    for (const prompt of ['hello world', 'The mesh node']) {
      const generation = await runtime.generate(model, prompt, {
        maxTokens: 32,
        temperature: 0,
        seed: 1,
        contextSize: 512,
        batchSize: 512,
        threads: 1,
        addBos: true,
      });
      assert.equal(generation.tokens.length, 32);
      assert.ok(new Set(generation.tokens).size >= 16, `few distinct tokens: ${generation.tokens.join(' ')}`);
    }
  });
});
