import assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { describe, it } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations.ts';
import { migrate, openDatabase } from '../../src/store/db.ts';

describe('the OTA migration', () => {
  it('migration versions strictly increase, and a fresh database has the release tables', () => {
    MIGRATIONS.forEach((m, i) => {
      if (i > 0) assert.ok(m.version > (MIGRATIONS[i - 1]?.version ?? 0), `migration ${m.name} has version ${m.version}`);
    });
    const db = openDatabase(':memory:');
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    assert.ok(tables.includes('releases') && tables.includes('release_artifacts'));
    db.close();
  });

  it('upgrades a database made while the OTA tables were a second version 4', () => {
    const db = new Database(':memory:');
    for (const m of MIGRATIONS.filter((m) => m.version <= 4)) db.exec(m.sql);
    const ota = MIGRATIONS.find((m) => m.name.startsWith('OTA'));
    assert.ok(ota);
    db.exec(ota.sql);
    db.pragma('user_version = 4');
    migrate(db);
    assert.equal(db.pragma('user_version', { simple: true }), MIGRATIONS.at(-1)?.version);
    db.close();
  });
});
