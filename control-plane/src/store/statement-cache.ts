import type { Statement } from 'better-sqlite3';
import type { Db } from './db.ts';

const cached = new WeakMap<Db, Db>();

/**
 * The same database, with `prepare` answered from a cache keyed by the SQL
 * text: a store that prepares its statements inline pays for compiling
 * each one once, not on every call (the hot path runs a dozen statements
 * per result). Safe because the stores never change a statement's mode
 * (`pluck`, `raw`, `expand`) nor iterate one while running it again.
 */
export function withStatementCache(db: Db): Db {
  const existing = cached.get(db);
  if (existing) return existing;
  const statements = new Map<string, Statement>();
  const bound = new Map<PropertyKey, unknown>();
  const prepare = (source: string): Statement => {
    let statement = statements.get(source);
    if (!statement) statements.set(source, (statement = db.prepare(source)));
    return statement;
  };
  const proxy = new Proxy(db, {
    get(target, property) {
      if (property === 'prepare') return prepare;
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== 'function') return value;
      let fn = bound.get(property);
      if (!fn) bound.set(property, (fn = (value as (...args: unknown[]) => unknown).bind(target)));
      return fn;
    },
  });
  cached.set(db, proxy);
  return proxy;
}
