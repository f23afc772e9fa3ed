import { createHash } from 'node:crypto';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { DEFAULT_TINY_MODEL_SEED, tinyModelBytes } from './tiny-model.ts';

export { DEFAULT_TINY_MODEL_SEED, TINY_MODEL_SHAPE, tinyModelBytes } from './tiny-model.ts';

export interface WriteTinyModelParameters {
  path: string;
  seed?: number;
}

export interface WriteTinyModelReturnType {
  path: string;
  sha256: string;
  size: number;
}

/**
 * Writes the tiny model for `seed` to `path` (parent folders created). The file
 * appears whole or not at all: it is written beside `path` and renamed.
 */
export async function writeTinyModel(parameters: WriteTinyModelParameters): Promise<WriteTinyModelReturnType> {
  const bytes = tinyModelBytes(parameters.seed ?? DEFAULT_TINY_MODEL_SEED);
  await mkdir(dirname(parameters.path), { recursive: true });
  const partial = `${parameters.path}.${process.pid}.partial`;
  await writeFile(partial, bytes);
  await rename(partial, parameters.path);
  return {
    path: parameters.path,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    size: bytes.length,
  };
}
