import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tinyModelBytes } from '@meshchain/scripts/model';
import { GgufFormatError, parseGgufHeader } from '../../src/runtimes/llama/gguf-header.ts';

function parse(bytes: Uint8Array): ReturnType<typeof parseGgufHeader> {
  return parseGgufHeader(async (offset, length) => bytes.slice(offset, offset + length), bytes.length);
}

function withU32At(bytes: Uint8Array, offset: number, value: number): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setUint32(offset, value, true);
  return copy;
}

function withU64At(bytes: Uint8Array, offset: number, value: bigint): Uint8Array {
  const copy = bytes.slice();
  new DataView(copy.buffer).setBigUint64(offset, value, true);
  return copy;
}

describe('GGUF header check', () => {
  const model = tinyModelBytes(1);

  test('accepts the tiny model and summarises it', async () => {
    assert.deepEqual(await parse(model), {
      version: 3,
      tensorCount: 21,
      metadataCount: 22,
      architecture: 'llama',
      vocabSize: 417,
      fileSize: model.length,
    });
  });

  test('refuses the file cut at any point', async () => {
    const cuts = [0, 3, 4, 8, 16, 23, 100, 1000, 5000, 9000, 10_000, 20_000, model.length / 2, model.length - 1];
    for (const cut of cuts) {
      await assert.rejects(parse(model.subarray(0, cut)), GgufFormatError, `cut at ${cut}`);
    }
  });

  test('refuses a bad magic, an unknown version and implausible counts', async () => {
    await assert.rejects(parse(withU32At(model, 0, 0x46554746)), /bad magic/);
    await assert.rejects(parse(withU32At(model, 4, 1)), /unsupported GGUF version 1/);
    await assert.rejects(parse(withU64At(model, 8, 0n)), /no tensors/);
    await assert.rejects(parse(withU64At(model, 8, 1n << 40n)), /tensor count is implausible/);
    await assert.rejects(parse(withU64At(model, 16, 1n << 62n)), /metadata count is/);
  });

  test('refuses a string longer than the file', async () => {
    // The first metadata key's length field follows the 24-byte header.
    await assert.rejects(parse(withU64At(model, 24, 1n << 40n)), GgufFormatError);
  });
});
