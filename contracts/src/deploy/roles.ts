import { keccak256, toBytes, zeroHash, type Hex } from 'viem';

/** AccessControl role ids used by MCPToken and RewardDistributor. */
export const roles = {
  /** Grants and revokes every other role. */
  DEFAULT_ADMIN_ROLE: zeroHash,
  /** MCPToken: may mint outside rewards (nobody in a standard deployment). */
  MINTER_ROLE: keccak256(toBytes('MINTER_ROLE')),
  /** MCPToken: may credit claimed rewards (the distributor). */
  DISTRIBUTOR_ROLE: keccak256(toBytes('DISTRIBUTOR_ROLE')),
  /** RewardDistributor: may post epochs (the control plane's batcher). */
  BATCHER_ROLE: keccak256(toBytes('BATCHER_ROLE')),
  /** RewardDistributor: may pause and unpause. */
  PAUSER_ROLE: keccak256(toBytes('PAUSER_ROLE')),
} as const satisfies Record<string, Hex>;
