/**
 * Seeded random JSON values and changed copies of them, for the JSON Patch
 * tests (the server's diff and apply, and the page's own apply).
 */

/** Small seeded PRNG (mulberry32), so a failure names a seed that reproduces it. */
export function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomValue(rnd: () => number, depth: number): unknown {
  const r = rnd();
  if (depth <= 0 || r < 0.35) {
    const leaves = [null, true, false, 0, -1.5, 42, '', 'x', 'a/b', '~0', 'héllo', Math.round(rnd() * 1000)];
    return leaves[Math.floor(rnd() * leaves.length)];
  }
  if (r < 0.65) return Array.from({ length: Math.floor(rnd() * 6) }, () => randomValue(rnd, depth - 1));
  const keys = ['a', 'b', 'c', 'a/b', '~', '~1', '', 'current', '__proto__'];
  const out: Record<string, unknown> = {};
  for (const key of keys) if (rnd() < 0.4) Object.defineProperty(out, key, { value: randomValue(rnd, depth - 1), enumerable: true, writable: true, configurable: true });
  return out;
}

/** A changed copy: keys removed, added, set to null, arrays grown, shrunk, shifted, items edited. */
export function mutate(rnd: () => number, value: unknown, depth: number): unknown {
  if (Array.isArray(value)) {
    let out = value.map((v) => (rnd() < 0.3 ? mutate(rnd, v, depth - 1) : v));
    const r = rnd();
    if (r < 0.15) out = out.slice(Math.ceil(rnd() * out.length)); // drop from the front
    else if (r < 0.3) out = out.slice(0, Math.floor(rnd() * out.length)); // shrink
    else if (r < 0.45) out = [...out.slice(1), randomValue(rnd, depth)]; // sliding window
    else if (r < 0.55) out.splice(Math.floor(rnd() * (out.length + 1)), 0, randomValue(rnd, depth)); // insert
    else if (r < 0.6) out = [];
    return out;
  }
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const r = rnd();
      if (r < 0.15) continue; // removed
      const next = r < 0.25 ? null : r < 0.5 ? mutate(rnd, v, depth - 1) : v;
      Object.defineProperty(out, key, { value: next, enumerable: true, writable: true, configurable: true });
    }
    if (rnd() < 0.3) out[`k${Math.floor(rnd() * 5)}`] = randomValue(rnd, depth);
    return out;
  }
  return rnd() < 0.3 ? randomValue(rnd, depth) : value;
}
