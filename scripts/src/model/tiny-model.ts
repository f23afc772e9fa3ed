/**
 * The tiny llama model the tests and the demo run: real architecture, random
 * weights drawn from a seeded PRNG, so the same seed gives the same bytes.
 */
import { createPrng, type Prng } from './prng.ts';
import { encodeGguf, type GgufTensor, type GgufValue } from './gguf-writer.ts';
import { buildVocab, TokenType, type Vocab } from './vocab.ts';

export const TINY_MODEL_SHAPE = {
  contextLength: 2048,
  embeddingLength: 64,
  blockCount: 2,
  headCount: 4,
  feedForwardLength: 128,
  rmsEpsilon: 1e-5,
} as const;

export const DEFAULT_TINY_MODEL_SEED = 1;

/**
 * Weight scales, tuned by hand so greedy decoding wanders over many tokens
 * instead of settling on one. Uniform draws in [-scale, scale).
 */
const SCALE = {
  embedding: 1,
  attention: 0.5,
  feedForward: 0.5,
  output: 1,
  /** Output rows of byte tokens are damped: raw bytes make unreadable text. */
  outputByte: 0.2,
  /** No row for `<unk>` and `<s>`: a model never predicts them. */
  outputNeverPredicted: 0,
  /** `</s>` is kept but rare, so most generations run to their length limit. */
  outputEos: 1,
} as const;

function random(prng: Prng, count: number, scale: number): Float32Array {
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) data[i] = prng.symmetric(scale);
  return data;
}

function ones(count: number): Float32Array {
  return new Float32Array(count).fill(1);
}

function outputRowScale(vocab: Vocab, token: number): number {
  if (token === vocab.eos) return SCALE.outputEos;
  if (token === vocab.unk || token === vocab.bos) return SCALE.outputNeverPredicted;
  if (vocab.types[token] === TokenType.Byte) return SCALE.outputByte;
  return SCALE.output;
}

function outputWeights(prng: Prng, vocab: Vocab, embd: number): Float32Array {
  // ggml dims [embd, vocab]: row t (the embd values for token t) is contiguous.
  const data = random(prng, embd * vocab.tokens.length, 1);
  for (let token = 0; token < vocab.tokens.length; token++) {
    const scale = outputRowScale(vocab, token);
    for (let i = token * embd; i < (token + 1) * embd; i++) data[i] = (data[i] ?? 0) * scale;
  }
  return data;
}

function tensors(prng: Prng, vocab: Vocab): GgufTensor[] {
  const { embeddingLength: embd, feedForwardLength: ff, blockCount } = TINY_MODEL_SHAPE;
  const nVocab = vocab.tokens.length;
  const matrix = (name: string, cols: number, rows: number, scale: number): GgufTensor => ({
    name,
    dims: [cols, rows],
    data: random(prng, cols * rows, scale),
  });

  const list: GgufTensor[] = [matrix('token_embd.weight', embd, nVocab, SCALE.embedding)];
  for (let block = 0; block < blockCount; block++) {
    const prefix = `blk.${block}`;
    list.push(
      { name: `${prefix}.attn_norm.weight`, dims: [embd], data: ones(embd) },
      matrix(`${prefix}.attn_q.weight`, embd, embd, SCALE.attention),
      matrix(`${prefix}.attn_k.weight`, embd, embd, SCALE.attention),
      matrix(`${prefix}.attn_v.weight`, embd, embd, SCALE.attention),
      matrix(`${prefix}.attn_output.weight`, embd, embd, SCALE.attention),
      { name: `${prefix}.ffn_norm.weight`, dims: [embd], data: ones(embd) },
      matrix(`${prefix}.ffn_gate.weight`, embd, ff, SCALE.feedForward),
      matrix(`${prefix}.ffn_up.weight`, embd, ff, SCALE.feedForward),
      matrix(`${prefix}.ffn_down.weight`, ff, embd, SCALE.feedForward),
    );
  }
  list.push(
    { name: 'output_norm.weight', dims: [embd], data: ones(embd) },
    { name: 'output.weight', dims: [embd, nVocab], data: outputWeights(prng, vocab, embd) },
  );
  return list;
}

function metadata(vocab: Vocab, seed: number): Array<[string, GgufValue]> {
  const shape = TINY_MODEL_SHAPE;
  return [
    ['general.architecture', { type: 'string', value: 'llama' }],
    ['general.name', { type: 'string', value: `meshchain-tiny-seed-${seed}` }],
    ['general.file_type', { type: 'u32', value: 0 }], // all F32
    ['general.alignment', { type: 'u32', value: 32 }],
    ['llama.context_length', { type: 'u32', value: shape.contextLength }],
    ['llama.embedding_length', { type: 'u32', value: shape.embeddingLength }],
    ['llama.block_count', { type: 'u32', value: shape.blockCount }],
    ['llama.feed_forward_length', { type: 'u32', value: shape.feedForwardLength }],
    ['llama.attention.head_count', { type: 'u32', value: shape.headCount }],
    ['llama.attention.head_count_kv', { type: 'u32', value: shape.headCount }],
    ['llama.rope.dimension_count', { type: 'u32', value: shape.embeddingLength / shape.headCount }],
    ['llama.attention.layer_norm_rms_epsilon', { type: 'f32', value: shape.rmsEpsilon }],
    ['llama.vocab_size', { type: 'u32', value: vocab.tokens.length }],
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'string[]', value: vocab.tokens }],
    ['tokenizer.ggml.scores', { type: 'f32[]', value: vocab.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32[]', value: vocab.types }],
    ['tokenizer.ggml.unknown_token_id', { type: 'u32', value: vocab.unk }],
    ['tokenizer.ggml.bos_token_id', { type: 'u32', value: vocab.bos }],
    ['tokenizer.ggml.eos_token_id', { type: 'u32', value: vocab.eos }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ];
}

/** The GGUF bytes of the tiny model for `seed`; a pure function of the seed. */
export function tinyModelBytes(seed: number = DEFAULT_TINY_MODEL_SEED): Uint8Array {
  const prng = createPrng(seed);
  const vocab = buildVocab();
  return encodeGguf({ metadata: metadata(vocab, seed), tensors: tensors(prng, vocab) });
}
