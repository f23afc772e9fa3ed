/**
 * Seeded message mutations for fuzzing the decoders: the same seed gives the
 * same sequence, so a failure can be replayed.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WEIRD_VALUES: unknown[] = [
  null, true, false, 0, -1, 1e308, -1e308, 2 ** 53 + 1, 0.1, '', 'x'.repeat(5000), '\u0000', '\ud800', '🙂',
  [], {}, [[[[[]]]]], { __proto__: { polluted: true } }, { constructor: { prototype: {} } }, '__proto__', 'NaN',
];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

/** Replaces one value somewhere in a JSON tree with something odd. */
function mutateTree(value: Json, random: () => number, depth = 0): Json {
  if (value === null || typeof value !== 'object' || depth > 6 || random() < 0.25) return pick(random, WEIRD_VALUES) as Json;
  if (Array.isArray(value)) {
    if (value.length === 0 || random() < 0.2) return [...value, pick(random, WEIRD_VALUES) as Json];
    const i = Math.floor(random() * value.length);
    return value.map((v, j) => (j === i ? mutateTree(v, random, depth + 1) : v));
  }
  const keys = Object.keys(value);
  if (keys.length === 0 || random() < 0.15) return { ...value, [pick(random, ['extra', '__proto__', 'sig', 'body', ''])]: pick(random, WEIRD_VALUES) as Json };
  if (random() < 0.1) {
    const copy = { ...value };
    delete copy[pick(random, keys)];
    return copy;
  }
  const key = pick(random, keys);
  return { ...value, [key]: mutateTree(value[key] as Json, random, depth + 1) };
}

/** A JSON value with one to three odd replacements, insertions or deletions somewhere inside. */
export function mutateValue(value: unknown, random: () => number): unknown {
  let mutated = value as Json;
  const rounds = 1 + Math.floor(random() * 3);
  for (let i = 0; i < rounds; i++) mutated = mutateTree(mutated, random);
  return mutated;
}

/** One mutated payload derived from a valid one. */
export function mutate(valid: Buffer, random: () => number): Buffer {
  const strategy = Math.floor(random() * 8);
  switch (strategy) {
    case 0: {
      const out = Buffer.from(valid);
      const flips = 1 + Math.floor(random() * 4);
      for (let i = 0; i < flips; i++) {
        const at = Math.floor(random() * out.length);
        out[at] = (out[at] ?? 0) ^ (1 << Math.floor(random() * 8));
      }
      return out;
    }
    case 1:
      return valid.subarray(0, Math.floor(random() * valid.length));
    case 2: {
      const at = Math.floor(random() * valid.length);
      const noise = Buffer.from(Array.from({ length: 1 + Math.floor(random() * 16) }, () => Math.floor(random() * 256)));
      return Buffer.concat([valid.subarray(0, at), noise, valid.subarray(at)]);
    }
    case 3:
      return Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => Math.floor(random() * 256)));
    case 4:
      return Buffer.from(JSON.stringify(pick(random, WEIRD_VALUES)));
    default:
      return Buffer.from(JSON.stringify(mutateValue(JSON.parse(valid.toString()), random)));
  }
}
