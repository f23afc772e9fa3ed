// Finds the Foundry binaries (anvil, forge) that the @foundry-rs npm packages installed for this platform.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { ContractsError } from '../errors.ts';

export type FoundryTool = 'anvil' | 'forge';

const ARCH: Partial<Record<NodeJS.Architecture, string>> = { x64: 'amd64', arm64: 'arm64' };

/** Absolute path of `tool` from `@foundry-rs/<tool>-<platform>-<arch>`. */
export function resolveFoundryBinary(tool: FoundryTool): string {
  const arch = ARCH[process.arch];
  if (!arch) {
    throw new ContractsError(`${tool} is not published for ${process.platform}/${process.arch}`, {
      details: `install Foundry's ${tool} yourself and pass its path`,
    });
  }
  const pkg = `@foundry-rs/${tool}-${process.platform}-${arch}`;
  let binary: string;
  try {
    const require = createRequire(import.meta.url);
    const file = process.platform === 'win32' ? `${tool}.exe` : tool;
    binary = join(dirname(require.resolve(`${pkg}/package.json`)), 'bin', file);
  } catch (cause) {
    throw new ContractsError(`${pkg} is not installed`, { details: 'run `npm install` at the repository root', cause });
  }
  if (!existsSync(binary)) {
    throw new ContractsError(`${binary} does not exist`, {
      details: `the ${pkg} package is incomplete: reinstall it with \`npm install\``,
    });
  }
  return binary;
}
