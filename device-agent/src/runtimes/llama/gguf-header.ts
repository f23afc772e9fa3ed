/**
 * A cheap structural check of a GGUF file before llama.cpp sees it: llama.cpp
 * trusts the header and can abort the whole process on garbage. This walks the
 * header, metadata and tensor infos with bounds checks (never loading weights)
 * and checks that every tensor's data lies inside the file.
 */
import { open } from 'node:fs/promises';

export interface GgufSummary {
  version: number;
  tensorCount: number;
  metadataCount: number;
  architecture: string;
  /** Length of `tokenizer.ggml.tokens`, when the file has one. */
  vocabSize: number | undefined;
  fileSize: number;
}

export class GgufFormatError extends Error {
  override name = 'GgufFormatError';
}

const MAGIC = 0x46554747; // "GGUF" as a little-endian u32
const MAX_COUNT = 1 << 20;
const MAX_KEY_BYTES = 1 << 16;
const MAX_DIMS = 4;
const DEFAULT_ALIGNMENT = 32;

const enum ValueType {
  Uint8 = 0, Int8 = 1, Uint16 = 2, Int16 = 3, Uint32 = 4, Int32 = 5, Float32 = 6,
  Bool = 7, String = 8, Array = 9, Uint64 = 10, Int64 = 11, Float64 = 12,
}

const SCALAR_SIZE: Partial<Record<number, number>> = {
  [ValueType.Uint8]: 1, [ValueType.Int8]: 1, [ValueType.Bool]: 1,
  [ValueType.Uint16]: 2, [ValueType.Int16]: 2,
  [ValueType.Uint32]: 4, [ValueType.Int32]: 4, [ValueType.Float32]: 4,
  [ValueType.Uint64]: 8, [ValueType.Int64]: 8, [ValueType.Float64]: 8,
};

/** ggml type → [bytes per block, elements per block] for the common types; others are not size-checked. */
const GGML_BLOCK: Partial<Record<number, readonly [number, number]>> = {
  0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32],
  10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256],
  24: [1, 1], 25: [2, 1], 26: [4, 1], 27: [8, 1], 28: [8, 1], 30: [2, 1],
};

/** Reads a file front to back in chunks, so a large vocabulary never sits in memory whole. */
export type ReadAt = (offset: number, length: number) => Promise<Uint8Array>;

class Cursor {
  private chunk: Uint8Array = new Uint8Array(0);
  private chunkStart = 0;
  offset = 0;

  constructor(
    private readonly readAt: ReadAt,
    readonly fileSize: number,
  ) {}

  private async bytes(length: number, what: string): Promise<DataView> {
    if (length > this.fileSize - this.offset) {
      throw new GgufFormatError(`file ends inside ${what} (offset ${this.offset}, file size ${this.fileSize})`);
    }
    const end = this.offset + length;
    if (this.offset < this.chunkStart || end > this.chunkStart + this.chunk.length) {
      this.chunkStart = this.offset;
      this.chunk = await this.readAt(this.offset, Math.min(Math.max(length, 1 << 20), this.fileSize - this.offset));
      if (this.chunk.length < length) throw new GgufFormatError(`file ends inside ${what} (offset ${this.offset})`);
    }
    const view = new DataView(this.chunk.buffer, this.chunk.byteOffset + this.offset - this.chunkStart, length);
    this.offset = end;
    return view;
  }

  async u32(what: string): Promise<number> {
    return (await this.bytes(4, what)).getUint32(0, true);
  }

  async u64(what: string): Promise<number> {
    const value = (await this.bytes(8, what)).getBigUint64(0, true);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new GgufFormatError(`${what} is too large (${value})`);
    return Number(value);
  }

  async string(what: string, maxBytes = this.fileSize): Promise<string> {
    const length = await this.u64(`${what} length`);
    if (length > maxBytes) throw new GgufFormatError(`${what} is ${length} bytes long`);
    const view = await this.bytes(length, what);
    return new TextDecoder().decode(new Uint8Array(view.buffer, view.byteOffset, view.byteLength));
  }

  async skip(length: number, what: string): Promise<void> {
    if (length > this.fileSize - this.offset) {
      throw new GgufFormatError(`file ends inside ${what} (offset ${this.offset}, file size ${this.fileSize})`);
    }
    this.offset += length;
  }
}

async function count(cursor: Cursor, what: string): Promise<number> {
  const value = await cursor.u64(what);
  if (value > MAX_COUNT) throw new GgufFormatError(`${what} is implausible (${value})`);
  return value;
}

interface ValueSummary {
  text?: string;
  arrayLength?: number;
  uint?: number;
}

async function readValue(cursor: Cursor, type: number, key: string): Promise<ValueSummary> {
  const scalar = SCALAR_SIZE[type];
  if (scalar !== undefined) {
    if (type === ValueType.Uint32) return { uint: await cursor.u32(key) };
    await cursor.skip(scalar, key);
    return {};
  }
  if (type === ValueType.String) return { text: await cursor.string(key) };
  if (type !== ValueType.Array) throw new GgufFormatError(`metadata ${key} has unknown value type ${type}`);

  const itemType = await cursor.u32(`${key} item type`);
  const length = await cursor.u64(`${key} length`);
  const itemSize = SCALAR_SIZE[itemType];
  if (itemSize !== undefined) {
    await cursor.skip(length * itemSize, key);
  } else if (itemType === ValueType.String) {
    // Each string takes at least its 8-byte length: refuse counts the file cannot hold before looping.
    if (length * 8 > cursor.fileSize - cursor.offset) throw new GgufFormatError(`metadata ${key} is longer than the file`);
    for (let i = 0; i < length; i++) await cursor.string(`${key}[${i}]`);
  } else {
    throw new GgufFormatError(`metadata ${key} is an array of unsupported type ${itemType}`);
  }
  return { arrayLength: length };
}

function alignUp(value: number, alignment: number): number {
  return Math.ceil(value / alignment) * alignment;
}

export async function parseGgufHeader(readAt: ReadAt, fileSize: number): Promise<GgufSummary> {
  const cursor = new Cursor(readAt, fileSize);
  const magic = await cursor.u32('magic');
  if (magic !== MAGIC) throw new GgufFormatError('not a GGUF file (bad magic)');
  const version = await cursor.u32('version');
  if (version !== 2 && version !== 3) throw new GgufFormatError(`unsupported GGUF version ${version} (expected 2 or 3)`);
  const tensorCount = await count(cursor, 'tensor count');
  if (tensorCount === 0) throw new GgufFormatError('the file has no tensors');
  const metadataCount = await count(cursor, 'metadata count');

  let architecture: string | undefined;
  let vocabSize: number | undefined;
  let alignment = DEFAULT_ALIGNMENT;
  for (let i = 0; i < metadataCount; i++) {
    const key = await cursor.string(`metadata key #${i}`, MAX_KEY_BYTES);
    const value = await readValue(cursor, await cursor.u32(`${key} type`), key);
    if (key === 'general.architecture') architecture = value.text;
    if (key === 'tokenizer.ggml.tokens') vocabSize = value.arrayLength;
    if (key === 'general.alignment' && value.uint !== undefined) alignment = value.uint;
  }
  if (!architecture) throw new GgufFormatError('metadata general.architecture is missing');
  if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
    throw new GgufFormatError(`general.alignment ${alignment} is not a power of two`);
  }

  const tensors: Array<{ name: string; offset: number; bytes: number | undefined }> = [];
  for (let i = 0; i < tensorCount; i++) {
    const name = await cursor.string(`tensor name #${i}`, MAX_KEY_BYTES);
    const dimCount = await cursor.u32(`${name} dimension count`);
    if (dimCount < 1 || dimCount > MAX_DIMS) throw new GgufFormatError(`tensor ${name} has ${dimCount} dimensions`);
    let elements = 1;
    for (let d = 0; d < dimCount; d++) {
      const dim = await cursor.u64(`${name} dimension ${d}`);
      if (dim < 1) throw new GgufFormatError(`tensor ${name} has an empty dimension`);
      elements *= dim;
      if (!Number.isSafeInteger(elements)) throw new GgufFormatError(`tensor ${name} is implausibly large`);
    }
    const type = await cursor.u32(`${name} type`);
    const offset = await cursor.u64(`${name} offset`);
    if (offset % alignment !== 0) throw new GgufFormatError(`tensor ${name} data is not aligned`);
    const block = GGML_BLOCK[type];
    tensors.push({ name, offset, bytes: block ? Math.ceil(elements / block[1]) * block[0] : undefined });
  }

  const dataStart = alignUp(cursor.offset, alignment);
  for (const tensor of tensors) {
    const end = dataStart + tensor.offset + (tensor.bytes ?? 0);
    if (end > fileSize) {
      throw new GgufFormatError(
        `tensor ${tensor.name} data ends at byte ${end} but the file has ${fileSize} bytes (truncated?)`,
      );
    }
  }
  return { version, tensorCount, metadataCount, architecture, vocabSize, fileSize };
}

/** Checks the GGUF file at `path`; throws GgufFormatError (or a file system error) when it is unfit. */
export async function readGgufHeader(path: string): Promise<GgufSummary> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    return await parseGgufHeader(async (offset, length) => {
      const buffer = new Uint8Array(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    }, size);
  } finally {
    await handle.close();
  }
}
