/**
 * The tiny model's vocabulary: a SentencePiece-style ("llama") vocab that can
 * spell any text. Control tokens first, then the 256 byte-fallback tokens, then
 * printable ASCII (space written as "▁", as SentencePiece does), then a few
 * words with every prefix a merge needs on the way to them.
 */
export const enum TokenType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  Byte = 6,
}

export interface Vocab {
  tokens: string[];
  scores: number[];
  types: TokenType[];
  unk: number;
  bos: number;
  eos: number;
}

const SPACE = '\u2581';

const WORDS = [
  'the', 'and', 'mesh', 'node', 'chain', 'token', 'model', 'shard',
  'proof', 'reward', 'compute', 'hello', 'world', 'is', 'of',
];

export function buildVocab(): Vocab {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: TokenType[] = [];
  const seen = new Set<string>();
  const add = (text: string, type: TokenType, score: number): void => {
    if (seen.has(text)) return;
    seen.add(text);
    tokens.push(text);
    types.push(type);
    scores.push(score);
  };

  add('<unk>', TokenType.Unknown, 0);
  add('<s>', TokenType.Control, 0);
  add('</s>', TokenType.Control, 0);
  for (let byte = 0; byte < 256; byte++) {
    add(`<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`, TokenType.Byte, 0);
  }
  for (let code = 0x20; code < 0x7f; code++) {
    add(code === 0x20 ? SPACE : String.fromCharCode(code), TokenType.Normal, -1000);
  }
  // The SentencePiece tokenizer only reaches a piece through merges of pieces
  // already in the vocab, so each word brings its prefixes; longer pieces
  // score higher so the merge towards the whole word wins.
  for (const word of WORDS) {
    const spelled = SPACE + word;
    for (let end = 2; end <= spelled.length; end++) {
      add(spelled.slice(0, end), TokenType.Normal, -100 + end);
    }
  }

  return { tokens, scores, types, unk: 0, bos: 1, eos: 2 };
}
