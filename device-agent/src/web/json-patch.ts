/**
 * JSON Patch (RFC 6902), the `add`, `remove` and `replace` operations: what
 * the live event stream sends instead of the whole snapshot after the first.
 *
 * Why not JSON Merge Patch (RFC 7386): a merge patch cannot set a value to
 * null (null means "remove the key"), and the snapshot has many nullable
 * fields (`current`, `owner`, `earnings`…); and it replaces arrays whole, so
 * each new telemetry sample would resend the hour of history. A JSON Patch
 * says `remove /telemetry/history/0` and `add /telemetry/history/-`.
 *
 * `diffJson` compares what clients hold (plain JSON) with the agent's live
 * snapshot and follows JSON.stringify's rules for the latter (undefined and
 * functions are left out of objects and become null in arrays, `toJSON` is
 * called, NaN and ±Infinity become null), so that applying its patch gives
 * exactly `JSON.parse(JSON.stringify(next))`. Arrays get a diff that fits
 * what the snapshot's arrays do: append, drop from the front (a sliding
 * window: telemetry history, log lines), edit in place, or shrink; anything
 * else, or a diff costing as much as the array itself, replaces the array.
 *
 * Comparing everything costs about as much as serializing the snapshot. Given
 * `previous` (the live value `held` was last brought in line with), a part of
 * `next` that is the very same object as the part of `previous` at the same
 * place is taken as unchanged without looking inside: cheap when the source
 * replaces what changes and shares the rest, as `WebStatusStore` does.
 */
import { WebError } from './errors.ts';

export type JsonPatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown };

const ABSENT = Symbol('absent');
/** No previous value to compare identities with: look at everything. */
const NONE = Symbol('none');

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `value` as JSON.stringify sees it at `key`; ABSENT where it leaves it out. */
function normalize(value: unknown, key: string): unknown {
  if (typeof value === 'object' && value !== null && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    value = (value as { toJSON: (key: string) => unknown }).toJSON(key);
  }
  switch (typeof value) {
    case 'undefined':
    case 'function':
    case 'symbol':
      return ABSENT;
    case 'number':
      return Number.isFinite(value) ? value : null;
    case 'bigint':
      throw new TypeError('Do not know how to serialize a BigInt');
    default:
      return value;
  }
}

function element(array: readonly unknown[], index: number): unknown {
  const value = normalize(array[index], String(index));
  return value === ABSENT ? null : value;
}

export function escapePathToken(token: string): string {
  return token.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** True when `next` (normalized at its own level) serializes to the JSON value `held`. */
function sameJson(held: unknown, next: unknown): boolean {
  if (held === next) return true;
  if (Array.isArray(held)) {
    if (!Array.isArray(next) || next.length !== held.length) return false;
    for (let i = 0; i < held.length; i++) if (!sameJson(held[i], element(next, i))) return false;
    return true;
  }
  if (!isObject(held) || !isObject(next)) return false;
  let count = 0;
  for (const key of Object.keys(next)) {
    const value = normalize(next[key], key);
    if (value === ABSENT) continue;
    if (!Object.hasOwn(held, key) || !sameJson(held[key], value)) return false;
    count++;
  }
  return count === Object.keys(held).length;
}

/**
 * The operations that turn `held` (a plain JSON value, as clients hold it)
 * into what `JSON.stringify(next)` describes. Empty when they are equal.
 */
export function diffJson(held: unknown, next: unknown, previous?: object): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [];
  const value = normalize(next, '');
  if (value === ABSENT) throw new WebError('the snapshot is not JSON', { code: 'internal' });
  diffValue(held, value, previous ?? NONE, '', ops);
  return ops;
}

function diffValue(held: unknown, next: unknown, previous: unknown, path: string, ops: JsonPatchOperation[]): void {
  if (held === next || next === previous) return;
  if (Array.isArray(held) && Array.isArray(next)) diffArray(held, next, Array.isArray(previous) ? previous : NONE, path, ops);
  else if (isObject(held) && isObject(next)) diffObject(held, next, isObject(previous) ? previous : NONE, path, ops);
  else if (!sameJson(held, next)) ops.push({ op: 'replace', path, value: next });
}

function diffObject(held: JsonObject, next: JsonObject, previous: JsonObject | typeof NONE, path: string, ops: JsonPatchOperation[]): void {
  for (const key of Object.keys(held)) {
    if (!Object.hasOwn(next, key) || normalize(next[key], key) === ABSENT) ops.push({ op: 'remove', path: `${path}/${escapePathToken(key)}` });
  }
  for (const key of Object.keys(next)) {
    const raw = next[key];
    const before = previous !== NONE && Object.hasOwn(previous, key) ? previous[key] : NONE;
    if (raw === before) continue;
    const value = normalize(raw, key);
    if (value === ABSENT) continue;
    const at = `${path}/${escapePathToken(key)}`;
    if (Object.hasOwn(held, key)) diffValue(held[key], value, before, at, ops);
    else ops.push({ op: 'add', path: at, value });
  }
}

function diffArray(
  held: readonly unknown[],
  next: readonly unknown[],
  previous: readonly unknown[] | typeof NONE,
  path: string,
  ops: JsonPatchOperation[],
): void {
  const n = held.length;
  const m = next.length;
  // held[i] is the JSON of previous[i]: the same object there means the same JSON.
  const same = (i: number, j: number): boolean =>
    (previous !== NONE && i < previous.length && previous[i] === next[j]) || sameJson(held[i], element(next, j));
  let prefix = 0;
  while (prefix < n && prefix < m && same(prefix, prefix)) prefix++;
  if (prefix === n && prefix === m) return;
  let suffix = 0;
  while (suffix < n - prefix && suffix < m - prefix && same(n - 1 - suffix, m - 1 - suffix)) suffix++;
  const removed = n - prefix - suffix;
  const added = m - prefix - suffix;

  // A sliding window: the first `drop` items left, the rest moved to the front, new items at the end.
  let drop = -1;
  if (prefix === 0 && m > 0) {
    for (let d = 1; d < n && d < m; d++) {
      if (!same(d, 0)) continue;
      let k = 1;
      while (d + k < n && k < m && same(d + k, k)) k++;
      if (d + k === n) drop = d;
      break;
    }
  }
  const shiftCost = drop > 0 ? drop + (m - (n - drop)) : Number.POSITIVE_INFINITY;
  const editCost = removed + added;
  if (Math.min(shiftCost, editCost) >= m) {
    ops.push({ op: 'replace', path, value: next.map((_, i) => element(next, i)) });
    return;
  }
  if (shiftCost < editCost) {
    for (let i = 0; i < drop; i++) ops.push({ op: 'remove', path: `${path}/0` });
    for (let i = n - drop; i < m; i++) ops.push({ op: 'add', path: `${path}/-`, value: element(next, i) });
    return;
  }
  // Edit the middle: items present on both sides are diffed in place, then the rest removed or added.
  const both = Math.min(removed, added);
  for (let i = 0; i < both; i++) {
    const before = previous !== NONE && prefix + i < previous.length ? previous[prefix + i] : NONE;
    diffValue(held[prefix + i], element(next, prefix + i), before, `${path}/${prefix + i}`, ops);
  }
  for (let i = both; i < removed; i++) ops.push({ op: 'remove', path: `${path}/${prefix + both}` });
  for (let i = both; i < added; i++) ops.push({ op: 'add', path: `${path}/${prefix + i}`, value: element(next, prefix + i) });
}

function invalid(op: unknown, why: string): WebError {
  const text = JSON.stringify(op) ?? String(op);
  return new WebError(`cannot apply the patch operation ${text.length > 120 ? `${text.slice(0, 117)}...` : text}: ${why}`, {
    code: 'bad-request',
  });
}

function arrayIndex(token: string, length: number, op: unknown, allowEnd: boolean): number {
  if (allowEnd && token === '-') return length;
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw invalid(op, `"${token}" is not an array index`);
  const index = Number(token);
  if (index > length || (!allowEnd && index === length)) throw invalid(op, `index ${index} is out of range`);
  return index;
}

/**
 * Applies `ops` to `doc` in place (the root is replaced by a `""` path) and
 * returns the result. Throws a `bad-request` WebError on an operation that
 * does not fit the document; operations before it have been applied.
 */
export function applyJsonPatch(doc: unknown, ops: readonly JsonPatchOperation[]): unknown {
  if (!Array.isArray(ops)) throw invalid(ops, 'a patch is an array of operations');
  for (const op of ops as readonly unknown[]) {
    if (!isObject(op) || typeof op.path !== 'string') throw invalid(op, 'an operation needs an "op" and a "path"');
    const kind = op.op;
    if (kind !== 'add' && kind !== 'remove' && kind !== 'replace') throw invalid(op, 'only add, remove and replace are supported');
    if (kind !== 'remove' && !Object.hasOwn(op, 'value')) throw invalid(op, 'add and replace need a "value"');
    const path = op.path;
    if (path === '') {
      if (kind === 'remove') throw invalid(op, 'cannot remove the whole document');
      doc = op.value;
      continue;
    }
    if (!path.startsWith('/')) throw invalid(op, 'a path starts with "/"');
    const tokens = path.slice(1).split('/').map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop() ?? '';
    let parent: unknown = doc;
    for (const token of tokens) {
      if (Array.isArray(parent)) parent = parent[arrayIndex(token, parent.length, op, false)];
      else if (isObject(parent) && Object.hasOwn(parent, token)) parent = parent[token];
      else throw invalid(op, `"${token}" does not exist`);
    }
    if (Array.isArray(parent)) {
      const index = arrayIndex(last, parent.length, op, kind === 'add');
      if (kind === 'add') parent.splice(index, 0, op.value);
      else if (kind === 'remove') parent.splice(index, 1);
      else parent[index] = op.value;
    } else if (isObject(parent)) {
      if (kind !== 'add' && !Object.hasOwn(parent, last)) throw invalid(op, `"${last}" does not exist`);
      if (kind === 'remove') delete parent[last];
      // defineProperty, so that a key named __proto__ is a plain key, as JSON.parse makes it
      else Object.defineProperty(parent, last, { value: op.value, writable: true, enumerable: true, configurable: true });
    } else throw invalid(op, 'its parent is not an object or an array');
  }
  return doc;
}
