// @meshchain/contracts: the MCP token and reward distributor, their artifacts, and chain helpers.
export {
  compilerVersion,
  mcpTokenAbi,
  mcpTokenBytecode,
  rewardDistributorAbi,
  rewardDistributorBytecode,
  sourceHash,
} from './generated/artifacts.ts';
export { roles } from './deploy/roles.ts';
export {
  deployContracts,
  type DeployContractsParameters,
  type DeployContractsReturnType,
} from './deploy/deployContracts.ts';
export {
  ANVIL_MNEMONIC,
  startAnvil,
  type StartAnvilParameters,
  type StartAnvilReturnType,
} from './anvil/startAnvil.ts';
export { buildContributionsTree, buildEarningsTree, epochProof, epochRoot, type CumulativeEarnings } from './rewards/trees.ts';
export { resolveFoundryBinary, type FoundryTool } from './foundry/binary.ts';
export { AnvilStartError, ContractsError, DeploymentError, SolidityCompileError } from './errors.ts';
