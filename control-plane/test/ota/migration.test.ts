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

  it('version 6 adds the rollout tables, and a version-5 database upgrades with its releases kept', () => {
    assert.ok(MIGRATIONS.some((m) => m.version === 6 && m.name.startsWith('rollouts')));
    const db = new Database(':memory:');
    for (const m of MIGRATIONS.filter((m) => m.version <= 5)) db.exec(m.sql);
    db.pragma('user_version = 5');
    db.prepare('INSERT INTO release_artifacts (sha256, size, created_at) VALUES (?, 1, 0)').run('a'.repeat(64));
    migrate(db);
    const tables = (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]).map((t) => t.name);
    for (const table of ['rollouts', 'rollout_devices', 'rollout_reports', 'device_ota']) assert.ok(tables.includes(table), table);
    assert.equal((db.prepare('SELECT COUNT(*) AS n FROM release_artifacts').get() as { n: number }).n, 1);
    assert.throws(() => db.prepare("INSERT INTO rollout_devices (rollout_id, node_id, stage, state, since, offered_at) VALUES ('r', 'n', 0, 'exploded', 0, 0)").run(), /CHECK/);
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
