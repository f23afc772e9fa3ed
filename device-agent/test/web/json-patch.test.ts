import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WebError, applyJsonPatch, diffJson, type JsonPatchOperation } from '../../src/web/index.ts';
import { sampleSnapshot, telemetryHistory } from './fixtures.ts';
import { mutate, random, randomValue } from './random-json.ts';

/** What a client does: receive the patch as text, parse it, apply it to its copy. */
function roundTrip(held: unknown, next: unknown, previous?: object): { result: unknown; ops: JsonPatchOperation[] } {
  const ops = diffJson(held, next, previous);
  const copy = JSON.parse(JSON.stringify(held)) as unknown;
  return { result: applyJsonPatch(copy, JSON.parse(JSON.stringify(ops)) as JsonPatchOperation[]), ops };
}

const asJson = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

describe('JSON Patch diff and apply', () => {
  it('turns any JSON value into any other: 3,000 seeded random pairs', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const rnd = random(seed);
      const before = asJson(randomValue(rnd, 4));
      const after = mutate(rnd, before, 4);
      const { result, ops } = roundTrip(before, after);
      assert.deepEqual(result, asJson(after), `seed ${seed}: ${JSON.stringify(before)} → ${JSON.stringify(after)} via ${JSON.stringify(ops)}`);
      if (JSON.stringify(before) === JSON.stringify(after)) assert.deepEqual(ops, [], `seed ${seed}: equal values need no operation`);
      // Again, skipping the parts `after` shares with `before` (what the event stream does between full comparisons).
      if (typeof before === 'object' && before !== null) {
        const { result: quick, ops: quickOps } = roundTrip(asJson(before), after, before);
        assert.deepEqual(quick, asJson(after), `seed ${seed}, with previous: via ${JSON.stringify(quickOps)}`);
      }
    }
  });

  it('skips what is shared with the previous value, and sees everything without it', () => {
    const shared = { n: 1 };
    const previous = { a: shared, b: [shared, 2, 3, 4] };
    const held = asJson(previous);
    shared.n = 2; // changed in place: the same object, so it is taken as unchanged
    const next = { a: shared, b: [shared, 2, 3, 4] };
    assert.deepEqual(diffJson(held, next, previous), []);
    assert.deepEqual(diffJson(held, next), [
      { op: 'replace', path: '/a/n', value: 2 },
      { op: 'replace', path: '/b/0/n', value: 2 },
    ]);
  });

  it('sets values to null, removes keys and shrinks arrays (what a merge patch cannot say)', () => {
    const before = { current: { done: 1 }, owner: '0xabc', logs: [1, 2, 3, 4], led: { pattern: [{ on: true }, { on: false }] } };
    const after = { current: null, logs: [1, 2], led: { pattern: [{ on: true }] } };
    const { result, ops } = roundTrip(before, after);
    assert.deepEqual(result, after);
    assert.deepEqual(ops, [
      { op: 'remove', path: '/owner' },
      { op: 'replace', path: '/current', value: null },
      { op: 'replace', path: '/logs', value: [1, 2] },
      { op: 'replace', path: '/led/pattern', value: [{ on: true }] }, // as small as removing the item: the array is sent
    ]);
  });

  it('sends one new telemetry sample and one log line, not the whole history', () => {
    const now = 1_800_000_000_000;
    const held = asJson(sampleSnapshot({}, now)) as ReturnType<typeof sampleSnapshot>;
    const live = sampleSnapshot({}, now);
    const sample = telemetryHistory(now + 10_000, 1)[0];
    assert.ok(sample);
    const next = {
      ...live,
      telemetry: { latest: sample, history: [...live.telemetry.history.slice(1), sample] },
      logs: [...live.logs.slice(1), { ts: now, level: 'info', msg: 'new line' }],
    };
    const { result, ops } = roundTrip(held, next);
    assert.deepEqual(result, asJson(next));
    assert.ok(ops.filter((o) => o.path.startsWith('/telemetry/latest/')).every((o) => o.op === 'replace'), 'the latest sample is edited field by field');
    assert.deepEqual(
      ops.filter((o) => !o.path.startsWith('/telemetry/latest/')).map((o) => `${o.op} ${o.path}`),
      ['remove /telemetry/history/0', 'add /telemetry/history/-', 'remove /logs/0', 'add /logs/-'],
    );
    const patchBytes = JSON.stringify(ops).length;
    assert.ok(patchBytes < 2000, `a ${patchBytes}-byte patch where the snapshot is ${JSON.stringify(next).length} bytes`);
  });

  it('follows JSON.stringify for values that are not plain JSON', () => {
    const at = new Date(1_800_000_000_000);
    const next = { when: at, gone: undefined, fn: () => 1, nan: Number.NaN, inf: -Infinity, list: [undefined, () => 1, 1], nested: { d: at } };
    const { result } = roundTrip({ gone: 1, fn: 2, nan: 0, list: [], nested: {} }, next);
    assert.deepEqual(result, asJson(next));
    assert.deepEqual(diffJson(asJson(next), next), [], 'nothing to send when the JSON is the same');
    assert.throws(() => diffJson({}, { big: 1n }), TypeError);
  });

  it('escapes "/" and "~" in keys and keeps __proto__ a plain key', () => {
    const before = JSON.parse('{"a/b":1,"~c":2,"__proto__":{"x":1}}') as unknown;
    const after = JSON.parse('{"a/b":2,"~c":3,"__proto__":{"x":2},"d~/e":4}') as unknown;
    const { result, ops } = roundTrip(before, after);
    assert.deepEqual(result, after);
    assert.ok(ops.some((o) => o.path === '/a~1b') && ops.some((o) => o.path === '/~0c') && ops.some((o) => o.path === '/d~0~1e'));
    assert.equal(Object.getPrototypeOf(result), Object.prototype, 'the prototype is untouched');
  });

  it('refuses operations that do not fit the document, with what was wrong', () => {
    const bad: [unknown, RegExp][] = [
      [{ op: 'move', from: '/a', path: '/b' }, /only add, remove and replace/],
      [{ op: 'remove', path: '/missing' }, /"missing" does not exist/],
      [{ op: 'replace', path: '/missing', value: 1 }, /does not exist/],
      [{ op: 'add', path: '/list/7', value: 1 }, /index 7 is out of range/],
      [{ op: 'remove', path: '/list/-' }, /not an array index/],
      [{ op: 'remove', path: '/list/01' }, /not an array index/],
      [{ op: 'add', path: '/a/b/c', value: 1 }, /"b" does not exist/],
      [{ op: 'add', path: 'a', value: 1 }, /starts with "\/"/],
      [{ op: 'add', path: '/a' }, /need a "value"/],
      [{ op: 'remove', path: '' }, /whole document/],
      [{ path: '/a' }, /only add, remove and replace/],
      [null, /needs an "op" and a "path"/],
    ];
    for (const [op, message] of bad) {
      assert.throws(
        () => applyJsonPatch({ a: 1, list: [1, 2] }, [op as JsonPatchOperation]),
        (error: unknown) => error instanceof WebError && error.code === 'bad-request' && message.test(error.shortMessage),
        JSON.stringify(op),
      );
    }
    assert.throws(() => applyJsonPatch({}, {} as JsonPatchOperation[]), /array of operations/);
  });

  it('applies the RFC 6902 examples it supports', () => {
    assert.deepEqual(applyJsonPatch({ foo: 'bar' }, [{ op: 'add', path: '/baz', value: 'qux' }]), { foo: 'bar', baz: 'qux' });
    assert.deepEqual(applyJsonPatch({ foo: ['bar', 'baz'] }, [{ op: 'add', path: '/foo/1', value: 'qux' }]), { foo: ['bar', 'qux', 'baz'] });
    assert.deepEqual(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'remove', path: '/baz' }]), { foo: 'bar' });
    assert.deepEqual(applyJsonPatch({ foo: ['bar', 'qux', 'baz'] }, [{ op: 'remove', path: '/foo/1' }]), { foo: ['bar', 'baz'] });
    assert.deepEqual(applyJsonPatch({ baz: 'qux', foo: 'bar' }, [{ op: 'replace', path: '/baz', value: 'boo' }]), { baz: 'boo', foo: 'bar' });
    assert.deepEqual(applyJsonPatch({ foo: ['bar'] }, [{ op: 'add', path: '/foo/-', value: ['abc', 'def'] }]), { foo: ['bar', ['abc', 'def']] });
    assert.deepEqual(applyJsonPatch({ foo: 1 }, [{ op: 'replace', path: '', value: [1] }]), [1]);
  });
});
