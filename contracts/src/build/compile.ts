// Compiles the contracts with solc-js (the `solc` npm package): no native solc, no network.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import solcModule from 'solc';
import { SolidityCompileError } from '../errors.ts';
import { artifactContracts, compilerSettings, readSources } from './sources.ts';

/** The part of solc-js this module uses (its own typings are `any`). */
interface SolcJs {
  version(): string;
  compile(input: string, callbacks: { import: (path: string) => ImportResult }): string;
}
type ImportResult = { contents: string } | { error: string };

interface SolcError {
  severity: 'error' | 'warning' | 'info';
  formattedMessage?: string;
  message: string;
}
interface SolcOutput {
  errors?: SolcError[];
  contracts?: Record<string, Record<string, { abi: unknown[]; evm: { bytecode: { object: string } } }>>;
}

/** ABI and creation bytecode of one contract. */
export interface ContractArtifact {
  contractName: string;
  abi: unknown[];
  bytecode: `0x${string}`;
}

/** Output of {@link compileContracts}. */
export interface CompileContractsReturnType {
  compilerVersion: string;
  artifacts: ContractArtifact[];
  warnings: string[];
}

const solc = solcModule as unknown as SolcJs;
const requireFromHere = createRequire(import.meta.url);

/** Resolves imports that are not among the given sources (OpenZeppelin) from node_modules. */
function resolveImport(path: string): ImportResult {
  if (!path.startsWith('@openzeppelin/contracts/')) {
    return { error: `unexpected import ${path}: only @openzeppelin/contracts is resolved from node_modules` };
  }
  try {
    return { contents: readFileSync(requireFromHere.resolve(path), 'utf8') };
  } catch (error) {
    return { error: `cannot read ${path}: ${error instanceof Error ? error.message : String(error)}` };
  }
}

/** Compiles every contract in contracts/src and returns the artifacts of MCPToken and RewardDistributor. */
export function compileContracts(sources: Map<string, string> = readSources()): CompileContractsReturnType {
  const input = {
    language: 'Solidity',
    sources: Object.fromEntries([...sources].map(([name, content]) => [name, { content }])),
    settings: {
      ...compilerSettings,
      outputSelection: Object.fromEntries(
        artifactContracts.map(([file, name]) => [file, { [name]: ['abi', 'evm.bytecode.object'] }]),
      ),
    },
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: resolveImport })) as SolcOutput;
  const problems = output.errors ?? [];
  const errors = problems.filter((p) => p.severity === 'error');
  if (errors.length > 0) {
    throw new SolidityCompileError(`solc reported ${errors.length} error(s)`, {
      details: errors.map((e) => e.formattedMessage ?? e.message).join('\n'),
    });
  }
  const artifacts = artifactContracts.map(([file, name]): ContractArtifact => {
    const contract = output.contracts?.[file]?.[name];
    if (!contract) throw new SolidityCompileError(`solc produced no output for ${file}:${name}`);
    return { contractName: name, abi: contract.abi, bytecode: `0x${contract.evm.bytecode.object}` };
  });
  return {
    compilerVersion: solc.version(),
    artifacts,
    warnings: problems.filter((p) => p.severity === 'warning').map((p) => p.formattedMessage ?? p.message),
  };
}
