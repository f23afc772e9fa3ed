import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import {
  ContextOverflowError,
  InvalidRequestError,
  LlamaRuntime,
  ModelLoadError,
  RuntimeStoppedError,
  WorkerCrashedError,
  type Generation,
  type RuntimeLogger,
} from '../../src/runtimes/llama/index.ts';
import { createModelFixtures, settings, type ModelFixtures } from './llama-fixtures.ts';

const EOS = 2;

function isEndOfGenerationToken(token: number): boolean {
  return token === EOS;
}

describe('LlamaRuntime', () => {
  let models: ModelFixtures;
  let runtime: LlamaRuntime;
  let reference: Generation;

  before(async () => {
    models = await createModelFixtures();
    runtime = new LlamaRuntime();
    await runtime.start();
    reference = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 16 }));
  });
  after(async () => {
    await runtime?.stop();
    await models?.cleanup();
  });

  test('loads the tiny model once per sha256', async () => {
    const loaded = await runtime.load(models.otherSeed);
    assert.equal(loaded.vocabSize, 417);
    assert.ok(loaded.loadMs > 0);
    // Content-addressed: the sha256 is the key, so the path is not even read again.
    const again = await runtime.load({ ...models.otherSeed, path: join(models.dir, 'moved-away.gguf') });
    assert.deepEqual(again, { loadMs: 0, vocabSize: 417, bosToken: 1, eosToken: 2 });
  });

  test('generates exactly maxTokens tokens when the model does not end the text', () => {
    assert.equal(reference.finishReason, 'length');
    assert.equal(reference.tokens.length, 16);
    assert.equal(reference.promptTokens[0], 1, 'BOS first');
    assert.ok(!reference.tokens.some(isEndOfGenerationToken));
    assert.ok(reference.text.length > 0);
  });

  test('stops at the end-of-generation token and leaves it out', async () => {
    // A random model ends some texts early; find one deterministically.
    let ended: Generation | undefined;
    for (let i = 0; i < 64 && !ended; i++) {
      const generation = await runtime.generate(models.good, `prompt ${i}`, settings({ maxTokens: 32 }));
      if (generation.finishReason === 'eos') ended = generation;
      else assert.equal(generation.tokens.length, 32);
    }
    assert.ok(ended, 'no prompt ended with eos');
    assert.ok(ended.tokens.length < 32);
    assert.ok(!ended.tokens.some(isEndOfGenerationToken));
  });

  test('prompt tokens are BOS + tokenize(prompt); addBos false leaves BOS out', async () => {
    const tokens = await runtime.tokenize(models.good, 'hello world');
    assert.deepEqual(reference.promptTokens, [1, ...tokens]);
    const withoutBos = await runtime.generate(models.good, 'hello world', settings({ addBos: false, maxTokens: 4 }));
    assert.deepEqual(withoutBos.promptTokens, tokens);
  });

  test('detokenize(tokens) gives the generated text', async () => {
    assert.equal(await runtime.detokenize(models.good, reference.tokens, reference.promptTokens), reference.text);
    // The first generated token here starts with no space, so plain detokenize agrees too.
    assert.equal(await runtime.detokenize(models.good, reference.tokens), reference.text);
  });

  test('the same prompt and settings give the same tokens again, and another model gives others', async () => {
    const again = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 16 }));
    assert.deepEqual(again.tokens, reference.tokens);
    assert.equal(again.timings.loadMs, 0);
    const other = await runtime.generate(models.otherSeed, 'hello world', settings({ maxTokens: 16 }));
    assert.notDeepEqual(other.tokens, reference.tokens);
  });

  test('a second process (parent run by the tsx CLI) generates identical tokens', async () => {
    const tsxCli = createRequire(import.meta.url).resolve('tsx/cli');
    const script = fileURLToPath(new URL('./fixtures/generate-once.ts', import.meta.url));
    const { stdout } = await promisify(execFile)(process.execPath, [
      tsxCli,
      script,
      models.good.path,
      models.good.sha256,
      'hello world',
      JSON.stringify(settings({ maxTokens: 16 })),
    ]);
    const other = JSON.parse(stdout) as { tokens: number[]; text: string };
    assert.deepEqual(other.tokens, reference.tokens);
    assert.equal(other.text, reference.text);
  });

  test('a prompt that does not fit the context fails with ContextOverflowError', async () => {
    const promptLength = reference.promptTokens.length;
    const fits = await runtime.generate(
      models.good,
      'hello world',
      settings({ contextSize: 40, maxTokens: 40 - promptLength }),
    );
    assert.equal(fits.tokens.length + fits.promptTokens.length, 40);
    await assert.rejects(
      runtime.generate(models.good, 'hello world', settings({ contextSize: 40, maxTokens: 41 - promptLength })),
      (error: unknown) => {
        assert.ok(error instanceof ContextOverflowError);
        assert.match(error.shortMessage, /needs 41 context cells .* contextSize is 40/);
        return true;
      },
    );
  });

  test('settings and token ids outside what the runtime supports are refused', async () => {
    await assert.rejects(
      runtime.generate(models.good, 'x', { ...settings(), temperature: 0.7 as 0 }),
      InvalidRequestError,
    );
    await assert.rejects(runtime.generate(models.good, 'x', settings({ threads: 0 })), InvalidRequestError);
    await assert.rejects(runtime.detokenize(models.good, [1, 5000]), /outside the vocabulary/);
  });

  test('score() confirms an honest claim and exposes a tampered token', async () => {
    const scoreSettings = { contextSize: 512, batchSize: 512, threads: 1 };
    const honest = await runtime.score(models.good, reference.promptTokens, reference.tokens, scoreSettings);
    assert.equal(honest.length, reference.tokens.length);
    honest.forEach((score, index) => {
      assert.equal(score.token, reference.tokens[index]);
      // Prefill and token-by-token logits differ slightly, so compare with a tolerance.
      assert.ok(score.maxLogit - score.claimedLogit <= 0.05, `token #${index} is not the model's choice`);
      assert.ok(score.logprob <= 0);
    });

    const tampered = [...reference.tokens];
    const position = 5;
    const original = reference.tokens[position] ?? 0;
    tampered[position] = original === 300 ? 301 : 300;
    const scores = await runtime.score(models.good, reference.promptTokens, tampered, scoreSettings);
    const caught = scores[position];
    assert.ok(caught);
    assert.equal(caught.topToken, original);
    assert.ok(caught.maxLogit - caught.claimedLogit > 0.05);
    assert.deepEqual(
      scores.slice(0, position).map((score) => score.claimedLogit),
      honest.slice(0, position).map((score) => score.claimedLogit),
      'positions before the change score the same',
    );
  });

  test('an abort rejects with AbortError and the runtime stays usable', async () => {
    const controller = new AbortController();
    const long = runtime.generate(
      models.good,
      'hello world',
      settings({ contextSize: 2048, maxTokens: 2000 }),
      controller.signal,
    );
    // Let the request reach the worker so the abort stops a running generation.
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort();
    await assert.rejects(long, { name: 'AbortError' });

    const preAborted = runtime.generate(models.good, 'hello world', settings(), AbortSignal.abort());
    await assert.rejects(preAborted, { name: 'AbortError' });

    const after = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 16 }));
    assert.deepEqual(after.tokens, reference.tokens);
  });

  test('a truncated or non-GGUF file fails with ModelLoadError before llama.cpp sees it', async () => {
    await assert.rejects(runtime.load(models.truncated), (error: unknown) => {
      assert.ok(error instanceof ModelLoadError);
      assert.ok(error.shortMessage.includes(models.truncated.path));
      assert.match(error.details ?? '', /truncated/);
      return true;
    });
    await assert.rejects(runtime.load(models.notGguf), /bad magic/);
    await assert.rejects(runtime.load({ path: join(models.dir, 'missing.gguf'), sha256: 'f'.repeat(64) }), (error: unknown) => {
      assert.ok(error instanceof ModelLoadError);
      assert.match(error.shortMessage, /Cannot read model file .*missing\.gguf/);
      assert.match(error.details ?? '', /ENOENT/);
      return true;
    });
    const after = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 16 }));
    assert.deepEqual(after.tokens, reference.tokens);
  });
});

describe('LlamaRuntime worker crashes', () => {
  let models: ModelFixtures;
  const runtime = new LlamaRuntime();

  before(async () => {
    models = await createModelFixtures();
  });
  after(async () => {
    await runtime.stop();
    await models?.cleanup();
  });

  test('a model that aborts llama.cpp fails every pending call, and the next call gets a fresh worker', async () => {
    const crashing = runtime.load(models.abortsLlama);
    const queued = runtime.generate(models.good, 'hello world', settings());
    await assert.rejects(crashing, (error: unknown) => {
      assert.ok(error instanceof WorkerCrashedError);
      assert.ok(error.shortMessage.includes(models.abortsLlama.path), error.shortMessage);
      assert.match(error.shortMessage, /SIGABRT/);
      assert.match(error.details ?? '', /GGML_ASSERT/);
      return true;
    });
    await assert.rejects(queued, (error: unknown) => {
      assert.ok(error instanceof WorkerCrashedError);
      assert.ok(error.shortMessage.includes(models.good.path), error.shortMessage);
      return true;
    });

    const generation = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 16 }));
    assert.equal(generation.tokens.length, 16);
    assert.ok(generation.timings.loadMs > 0, 'the fresh worker loaded the model again');
  });

  test('stop() fails pending calls and a later call starts again', async () => {
    const pending = assert.rejects(runtime.generate(models.good, 'hello world', settings()), RuntimeStoppedError);
    await runtime.stop();
    await pending;
    const generation = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 4 }));
    assert.equal(generation.tokens.length, 4);
  });
});

describe('LlamaRuntime idle worker', () => {
  let models: ModelFixtures;
  let idleStops = 0;
  let onIdleStop: () => void = () => {};
  const logger: RuntimeLogger = {
    info: (_fields, message) => {
      if (message !== 'stopping idle llama worker') return;
      idleStops++;
      onIdleStop();
    },
    warn: () => {},
    error: () => {},
  };
  const runtime = new LlamaRuntime({ logger, workerIdleTimeoutMs: 1 });

  before(async () => {
    models = await createModelFixtures();
  });
  after(async () => {
    await runtime.stop();
    await models?.cleanup();
  });

  test('an idle worker is stopped and the next call starts a new one', async () => {
    const stopped = new Promise<void>((resolve) => {
      onIdleStop = resolve;
    });
    // An idle runtime holds nothing that keeps a process alive, its idle timer
    // included; this test has nothing else running, so it holds the loop itself.
    const keepAlive = setInterval(() => {}, 60_000);
    const first = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 8 }));
    await stopped.finally(() => clearInterval(keepAlive));
    assert.equal(idleStops, 1);
    const second = await runtime.generate(models.good, 'hello world', settings({ maxTokens: 8 }));
    assert.deepEqual(second.tokens, first.tokens);
    assert.ok(second.timings.loadMs > 0, 'the new worker loaded the model again');
  });
});
