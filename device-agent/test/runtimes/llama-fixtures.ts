/** Model files and settings shared by the llama runtime tests. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModelBytes, writeTinyModel } from '@meshchain/scripts/model';
import type { GenerationSettings, ModelRef } from '../../src/runtimes/llama/index.ts';

export function settings(overrides: Partial<GenerationSettings> = {}): GenerationSettings {
  return {
    maxTokens: 16,
    temperature: 0,
    seed: 1,
    contextSize: 512,
    batchSize: 512,
    threads: 1,
    addBos: true,
    ...overrides,
  };
}

async function writeModel(path: string, bytes: Uint8Array): Promise<ModelRef> {
  await writeFile(path, bytes);
  return { path, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Sets a u32 metadata value in GGUF bytes; the key must be present with type u32. */
function patchMetadataU32(bytes: Uint8Array, key: string, value: number): Uint8Array {
  const copy = Buffer.from(bytes);
  const keyBytes = Buffer.from(key);
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(keyBytes.length));
  const at = copy.indexOf(Buffer.concat([prefix, keyBytes]));
  if (at < 0) throw new Error(`metadata key ${key} not found`);
  const typeAt = at + 8 + keyBytes.length;
  if (copy.readUInt32LE(typeAt) !== 4) throw new Error(`metadata key ${key} is not a u32`);
  copy.writeUInt32LE(value, typeAt + 4);
  return copy;
}

export interface ModelFixtures {
  dir: string;
  good: ModelRef;
  otherSeed: ModelRef;
  /** Cut inside the tensor data: structurally detectable. */
  truncated: ModelRef;
  notGguf: ModelRef;
  /** A well-formed GGUF whose zero KV-head count makes llama.cpp hit a GGML_ASSERT (SIGABRT). */
  abortsLlama: ModelRef;
  cleanup(): Promise<void>;
}

export async function createModelFixtures(): Promise<ModelFixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'meshchain-llama-'));
  const goodFile = await writeTinyModel({ path: join(dir, 'tiny-1.gguf'), seed: 1 });
  const otherFile = await writeTinyModel({ path: join(dir, 'tiny-2.gguf'), seed: 2 });
  const bytes = tinyModelBytes(1);
  return {
    dir,
    good: { path: goodFile.path, sha256: goodFile.sha256 },
    otherSeed: { path: otherFile.path, sha256: otherFile.sha256 },
    truncated: await writeModel(join(dir, 'truncated.gguf'), bytes.subarray(0, Math.floor(bytes.length / 2))),
    notGguf: await writeModel(join(dir, 'not-gguf.gguf'), new TextEncoder().encode('<html>404 not found</html>')),
    abortsLlama: await writeModel(
      join(dir, 'aborts.gguf'),
      patchMetadataU32(bytes, 'llama.attention.head_count_kv', 0),
    ),
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}
