// Runs the Solidity test suite (test/*.t.sol, fuzzing included) with forge, offline.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { resolveFoundryBinary } from '../src/foundry/binary.ts';

const contractsDir = fileURLToPath(new URL('..', import.meta.url));
const SUMMARY = /Ran \d+ test suites? in .*?: (\d+) tests passed, (\d+) failed, (\d+) skipped \((\d+) total tests\)/;

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, output }));
  });
}

describe('forge test (offline, solc-js through tools/solc.mjs)', () => {
  it('passes every Solidity test', { timeout: 300_000 }, async () => {
    const forge = resolveFoundryBinary('forge');
    const { code, output } = await run(forge, ['test', '--offline', '--color', 'never'], contractsDir);
    const summary = SUMMARY.exec(output);
    const lines = output.split('\n').filter((line) => /^(Ran |Suite result|\[FAIL)/.test(line));
    console.log(lines.join('\n'));
    assert.equal(code, 0, `forge test failed:\n${output}`);
    assert.ok(summary, `no summary in forge output:\n${output}`);
    const [, passed, failed, , total] = summary.map(Number);
    assert.equal(failed, 0);
    assert.ok(passed !== undefined && passed > 0 && passed === total, `passed ${passed} of ${total}`);
  });
});
