#!/usr/bin/env node
// Runs every package's tests in one `node --test` invocation so CI reads one summary.
// Usage: node scripts/run-tests.mjs [path-filter ...]
//   e.g. node scripts/run-tests.mjs protocol broker/test/acl
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const packages = ['protocol', 'broker', 'control-plane', 'device-agent', 'contracts', 'scripts'];

function collect(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries.sort()) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) collect(path, out);
    else if (name.endsWith('.test.ts')) out.push(relative(root, path));
  }
  return out;
}

const filters = process.argv.slice(2);
const files = packages
  .flatMap((pkg) => collect(join(root, pkg, 'test'), []))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)));

if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ') || '(all)'}`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-reporter=spec', ...files],
  { cwd: root, stdio: 'inherit', env: { ...process.env, MESHCHAIN_TEST: '1' } },
);
process.exit(result.status ?? 1);
