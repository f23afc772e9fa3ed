#!/usr/bin/env node
// ExecStartPre of meshnode.service: puts the previous agent release back when
// an app update did not become healthy before its deadline, even when the new
// release cannot start at all (then nothing else would ever roll it back).
//
//   node meshnode-ota-recover.mjs <release-root>      (default /opt/meshnode)
//
// It mirrors AppUpdater.recover() in device-agent/src/ota/app-updater.ts, with
// no dependencies, so that it runs whatever state the releases are in. It
// lives outside the release directories (the image installs it under
// /usr/lib/meshnode/) and never fails the start: on any error it logs and
// exits 0, leaving `current` as it is.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const root = process.argv[2] ?? process.env.MESHNODE_RELEASE_ROOT ?? '/opt/meshnode';
const now = Number(process.env.MESHNODE_OTA_NOW ?? Date.now());

function log(message, fields = {}) {
  process.stderr.write(`${JSON.stringify({ msg: message, component: 'ota-recover', root, ...fields })}\n`);
}

function fsyncDir(path) {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function writeState(state) {
  const temp = join(root, `.ota-state-${randomBytes(4).toString('hex')}`);
  const fd = openSync(temp, 'w', 0o644);
  try {
    writeFileSync(fd, `${JSON.stringify(state)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, join(root, 'ota-state.json'));
  fsyncDir(root);
}

function switchTo(version) {
  if (!statSync(join(root, 'releases', version), { throwIfNoEntry: false })?.isDirectory()) throw new Error(`release ${version} is not installed`);
  const temp = join(root, `.current-${randomBytes(4).toString('hex')}`);
  symlinkSync(join('releases', version), temp);
  renameSync(temp, join(root, 'current'));
  fsyncDir(root);
}

function main() {
  // Leftovers of interrupted work.
  for (const name of readdirSync(join(root, 'releases'), { withFileTypes: true }).map((e) => e.name)) {
    if (name.startsWith('.staging-')) rmSync(join(root, 'releases', name), { recursive: true, force: true });
  }
  for (const name of readdirSync(root)) {
    if (name.startsWith('.current-') || name.startsWith('.ota-state-')) rmSync(join(root, name), { force: true });
  }
  let state;
  try {
    state = JSON.parse(readFileSync(join(root, 'ota-state.json'), 'utf8'));
  } catch {
    return; // no update in progress
  }
  const pending = state?.version === 1 ? state.pending : null;
  if (!pending || typeof pending.from !== 'string' || typeof pending.to !== 'string' || typeof pending.deadline !== 'number') return;
  let current = null;
  try {
    current = basename(readlinkSync(join(root, 'current')));
  } catch {
    current = null;
  }
  if (current !== pending.to) {
    writeState({ version: 1, pending: null, last: { version: pending.to, from: pending.from, outcome: 'abandoned', reason: 'interrupted before the switch', at: now } });
    log('update abandoned: it was interrupted before the switch', { from: pending.from, to: pending.to });
    return;
  }
  if (now < pending.deadline) return; // the new release is still within its deadline: let it start and confirm
  switchTo(pending.from);
  const reason = 'not healthy before the deadline (the new release did not start or did not connect)';
  writeState({ version: 1, pending: null, last: { version: pending.to, from: pending.from, outcome: 'rolled_back', reason, at: now } });
  log('rolled back to the previous release', { from: pending.to, to: pending.from, reason });
}

try {
  main();
} catch (error) {
  log('recovery failed; starting whatever `current` points at', { error: String(error) });
}
