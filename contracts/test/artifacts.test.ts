// The generated artifacts are committed; this fails when they no longer match the Solidity sources.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { compileContracts } from '../src/build/compile.ts';
import { renderArtifacts } from '../src/build/render.ts';
import { computeSourceHash, installedVersion } from '../src/build/sources.ts';
import {
  compilerVersion,
  mcpTokenAbi,
  mcpTokenBytecode,
  rewardDistributorAbi,
  rewardDistributorBytecode,
  sourceHash,
} from '../src/generated/artifacts.ts';

describe('generated artifacts', () => {
  it('were built from the current sources (else run `npm run build -w contracts`)', () => {
    assert.equal(sourceHash, computeSourceHash(), 'src/generated/artifacts.ts is stale: run `npm run build -w contracts`');
  });

  it('are exactly what a fresh solc-js build of the sources produces', () => {
    const { compilerVersion: version, artifacts } = compileContracts();
    const expected = renderArtifacts({ sourceHash: computeSourceHash(), compilerVersion: version, artifacts });
    const actual = readFileSync(new URL('../src/generated/artifacts.ts', import.meta.url), 'utf8');
    assert.ok(actual === expected, 'src/generated/artifacts.ts differs from a fresh build: run `npm run build -w contracts`');
  });

  it('were built by the installed solc', () => {
    assert.ok(compilerVersion.startsWith(`${installedVersion('solc')}+`), compilerVersion);
  });

  it('hold ABIs and bytecode for both contracts', () => {
    for (const bytecode of [mcpTokenBytecode, rewardDistributorBytecode]) {
      assert.match(bytecode, /^0x([0-9a-f]{2})+$/);
    }
    const names = (abi: readonly { type: string; name?: string }[]) =>
      new Set(abi.filter((item) => item.type === 'function').map((item) => item.name));
    assert.ok(names(mcpTokenAbi).has('mint'));
    for (const fn of ['postEpoch', 'claim', 'currentEpoch', 'epochRoot', 'claimed', 'verifyContribution']) {
      assert.ok(names(rewardDistributorAbi).has(fn), fn);
    }
  });
});
