// What the generated artifacts are built from, and a hash of it that the artifacts record.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** contracts/ (the package root). */
export const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Contracts exported as artifacts: [source unit name, contract name]. */
export const artifactContracts = [
  ['src/MCPToken.sol', 'MCPToken'],
  ['src/RewardDistributor.sol', 'RewardDistributor'],
] as const;

/** solc settings; foundry.toml uses the same optimizer and EVM version. */
export const compilerSettings = {
  optimizer: { enabled: true, runs: 200 },
  evmVersion: 'cancun',
  metadata: { bytecodeHash: 'ipfs' },
} as const;

const requireFromHere = createRequire(import.meta.url);

/** Version of an installed package, read from its package.json. */
export function installedVersion(name: string): string {
  const pkg: unknown = JSON.parse(readFileSync(requireFromHere.resolve(`${name}/package.json`), 'utf8'));
  if (typeof pkg !== 'object' || pkg === null || !('version' in pkg) || typeof pkg.version !== 'string') {
    throw new Error(`${name}/package.json has no version`);
  }
  return pkg.version;
}

/** Every .sol file under contracts/src as source unit name ("src/…") → content, sorted by name. */
export function readSources(): Map<string, string> {
  const names: string[] = [];
  const walk = (dir: string, prefix: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const name = `${prefix}/${entry.name}`;
      if (entry.isDirectory()) walk(join(dir, entry.name), name);
      else if (entry.name.endsWith('.sol')) names.push(name);
    }
  };
  walk(join(packageRoot, 'src'), 'src');
  names.sort();
  return new Map(names.map((name) => [name, readFileSync(join(packageRoot, name), 'utf8')]));
}

/**
 * sha256 over the Solidity sources, the compiler settings and the versions of solc and OpenZeppelin:
 * if it differs from the hash recorded in src/generated/artifacts.ts, the artifacts are stale.
 */
export function computeSourceHash(sources: Map<string, string> = readSources()): `0x${string}` {
  const hash = createHash('sha256');
  hash.update(
    JSON.stringify({
      solc: installedVersion('solc'),
      openzeppelin: installedVersion('@openzeppelin/contracts'),
      settings: compilerSettings,
      // Line endings do not change what the sources mean (a Windows checkout may use CRLF).
      sources: [...sources.entries()].map(([name, content]) => [name, content.replaceAll('\r\n', '\n')]),
    }),
  );
  return `0x${hash.digest('hex')}`;
}
