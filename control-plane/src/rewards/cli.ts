// `meshchain rewards …` and `meshchain claim`: the owners' side of the CLI.
import type { Command } from 'commander';
import { formatEther, getAddress, type Address } from 'viem';
import { evmAddressSchema } from '@meshchain/protocol';
import type { ApiClient } from '../cli/api-client.ts';
import { claimCalldata, readPrivateKeyFile, sendClaim } from '../chain/claim.ts';
import { DistributorClient } from '../chain/distributor.ts';
import { ControlPlaneError } from '../errors.ts';
import type { EpochRecord, OwnerRewards } from './types.ts';

type Print = (json: boolean, value: unknown, human: () => string) => void;

const mcp = (wei: string | null): string => (wei === null ? '?' : `${formatEther(BigInt(wei))} MCP`);

function ownerAddress(value: string): Address {
  if (!evmAddressSchema.safeParse(value).success) {
    throw new ControlPlaneError(`--owner ${value} is not an EVM address`, { details: '0x + 40 hex digits, EIP-55 checksummed or all lowercase' });
  }
  return getAddress(value);
}

function jsonFlag(command: Command): boolean {
  return Boolean(command.optsWithGlobals<{ json?: boolean }>().json);
}

function describeEpoch(e: EpochRecord): string {
  const parts = [`epoch ${String(e.epoch).padStart(3)}  ${e.state.padEnd(7)}`];
  if (e.state !== 'open') parts.push(`${e.owners ?? 0} owners  ${e.contributions ?? 0} shards  ${e.units ?? 0} units  total ${mcp(e.totalCumulative)}`);
  else parts.push(`opened ${new Date(e.openedAt).toISOString()}`);
  if (e.earningsRoot) parts.push(`root ${e.earningsRoot}`);
  if (e.txHash) parts.push(`tx ${e.txHash}${e.gasUsed ? ` (${e.gasUsed} gas)` : ''}`);
  if (e.lastError && e.state !== 'posted') parts.push(`last error (attempt ${e.attempts}): ${e.lastError}`);
  return parts.join('  ');
}

function describeOwner(o: OwnerRewards): string {
  return [
    `owner            ${o.owner}`,
    `nodes            ${o.nodes.length === 0 ? '(none bound: meshnode bind <address>)' : o.nodes.map((n) => n.nodeId).join(', ')}`,
    `earned           ${mcp(o.cumulative)}${o.latestClosedEpoch ? ` (through epoch ${o.latestClosedEpoch})` : ''}`,
    `posted on chain  ${mcp(o.cumulativePosted)}${o.latestPostedEpoch ? ` (epoch ${o.latestPostedEpoch})` : ' (no epoch posted yet)'}`,
    `claimed          ${mcp(o.claimedOnChain)}`,
    `claimable        ${mcp(o.claimable)}`,
    `balance          ${mcp(o.balance)}`,
    `open epoch       ${o.openEpochUnits} units so far`,
    ...(o.chainError ? [`chain            unreachable: ${o.chainError}`] : []),
    ...(o.claim ? ['', `claim with: meshchain claim --owner ${o.owner} --key-file <file>   (or --calldata)`] : []),
  ].join('\n');
}

/** Adds `rewards` (owner summary, proof, epochs, close-epoch) and `claim` to the meshchain program. */
export function registerRewardCommands(program: Command, client: () => ApiClient, print: Print): void {
  const rewards = program
    .command('rewards')
    .description("an owner's earnings and claim proof (--owner), epochs, contribution proofs")
    .option('--owner <address>', 'owner EVM address')
    .option('--json', 'machine-readable output')
    .action(async (options: { owner?: string }, command: Command) => {
      if (!options.owner) {
        command.help();
        return;
      }
      const owner = await client().rewardsOwner(ownerAddress(options.owner));
      print(jsonFlag(command), owner, () => describeOwner(owner));
    });

  rewards
    .command('epochs')
    .description('every epoch: state, roots, totals, posting transaction')
    .option('--json', 'machine-readable output')
    .action(async (_options: unknown, command: Command) => {
      const response = await client().rewardsEpochs();
      print(jsonFlag(command), response, () =>
        [
          ...response.epochs.map(describeEpoch),
          `poster: ${response.poster.state}${response.poster.reason ? ` (${response.poster.reason})` : ''}`,
          response.chain ? `chain ${response.chain.chainId ?? '?'} at ${response.chain.rpcUrl}, distributor ${response.chain.distributor}` : 'no chain',
        ].join('\n'),
      );
    });

  rewards
    .command('close-epoch')
    .description('close the open epoch now; it is posted on chain in the background')
    .option('--wait', 'wait until the epoch is posted')
    .option('--timeout <seconds>', 'with --wait: give up after this long', '120')
    .option('--json', 'machine-readable output')
    .action(async (options: { wait?: boolean; timeout: string }, command: Command) => {
      const api = client();
      let epoch = await api.closeEpoch();
      if (options.wait) epoch = await waitForPosted(api, epoch.epoch, Number(options.timeout) * 1000);
      print(jsonFlag(command), epoch, () => describeEpoch(epoch));
    });

  rewards
    .command('proof <job> <shard>')
    .description("proof that a shard's contribution (job, shard, node, owner, units) is in its epoch's on-chain commitment")
    .option('--no-verify', 'do not check the proof against the chain')
    .option('--json', 'machine-readable output')
    .action(async (jobId: string, shard: string, options: { verify: boolean }, command: Command) => {
      const api = client();
      const proof = await api.contributionProof(jobId, Number(shard));
      let onChain: boolean | null = null;
      if (options.verify && proof.epochState === 'posted' && proof.distributor) {
        const chain = (await api.info()).chain;
        if (chain) {
          const reader = new DistributorClient({ rpcUrl: chain.rpcUrl, privateKey: null, distributor: proof.distributor });
          onChain = await reader.verifyContribution({
            epoch: proof.epoch,
            jobId: proof.leaf.jobId,
            shardIndex: proof.leaf.shardIndex,
            nodeId: proof.leaf.nodeId,
            owner: proof.leaf.owner,
            units: BigInt(proof.leaf.units),
            proof: proof.proof,
          });
        }
      }
      print(jsonFlag(command), { ...proof, verifiedOnChain: onChain }, () =>
        [
          `job ${proof.contribution.jobId} shard ${proof.contribution.shardIndex}: node ${proof.contribution.nodeId}, owner ${proof.contribution.owner}, ${proof.contribution.units} units`,
          `epoch ${proof.epoch} (${proof.epochState}), epoch root ${proof.epochRoot} (contributions root ${proof.contributionsRoot}, earnings root ${proof.earningsRoot})`,
          `leaf ${proof.leafHash}`,
          `proof [${proof.proof.join(', ')}]`,
          onChain === null ? 'not checked on chain' : onChain ? 'verifyContribution on chain: true' : 'verifyContribution on chain: FALSE',
        ].join('\n'),
      );
      if (onChain === false) process.exitCode = 2;
    });

  program
    .command('claim')
    .description("claim an owner's MCP with a key file (anyone may claim on an owner's behalf), or print the calldata")
    .requiredOption('--owner <address>', 'owner EVM address (receives the MCP)')
    .option('--key-file <file>', 'private key that signs and pays gas (hex, or JSON {"privateKey"})')
    .option('--calldata', 'print the transaction (to, data) instead of sending it')
    .option('--rpc-url <url>', 'JSON-RPC endpoint (default: the one the control plane reports)')
    .option('--json', 'machine-readable output')
    .action(async (options: { owner: string; keyFile?: string; calldata?: boolean; rpcUrl?: string }, command: Command) => {
      const api = client();
      const owner = await api.rewardsOwner(ownerAddress(options.owner));
      if (!owner.claim) {
        throw new ControlPlaneError(`nothing posted on chain for ${owner.owner} yet`, {
          details: owner.latestPostedEpoch === null ? 'no epoch has been posted; meshchain rewards close-epoch --wait' : `the owner is not in epoch ${owner.latestPostedEpoch}'s tree`,
        });
      }
      const args = { account: owner.claim.account, cumulativeAmount: BigInt(owner.claim.cumulativeAmount), proof: owner.claim.proof };
      if (options.calldata) {
        const tx = { to: owner.claim.distributor, data: claimCalldata(args), chainId: owner.claim.chainId, claimable: owner.claimable };
        print(jsonFlag(command), tx, () => `to       ${tx.to}\ndata     ${tx.data}\nchain id ${tx.chainId ?? '?'}\nclaimable ${mcp(owner.claimable)}`);
        return;
      }
      if (!options.keyFile) throw new ControlPlaneError('give --key-file <file> to send the claim, or --calldata to print it');
      if (owner.claimable === '0') throw new ControlPlaneError(`${owner.owner} has nothing left to claim`, { details: `claimed ${mcp(owner.claimedOnChain)} of ${mcp(owner.cumulativePosted)}` });
      const chain = (await api.info()).chain;
      const rpcUrl = options.rpcUrl ?? chain?.rpcUrl;
      const chainId = owner.claim.chainId ?? chain?.chainId;
      if (!rpcUrl || !chainId) throw new ControlPlaneError('the control plane reports no chain; give --rpc-url');
      const result = await sendClaim({ rpcUrl, chainId, distributor: owner.claim.distributor, privateKey: await readPrivateKeyFile(options.keyFile), ...args });
      const after = await api.rewardsOwner(owner.owner);
      const out = { owner: owner.owner, txHash: result.txHash, amount: result.amount.toString(), gasUsed: result.gasUsed.toString(), block: result.blockNumber.toString(), sender: result.sender, balance: after.balance };
      print(jsonFlag(command), out, () =>
        [`claimed ${mcp(out.amount)} for ${out.owner} (sent by ${out.sender})`, `tx ${out.txHash}  block ${out.block}  gas ${out.gasUsed}`, `balance ${mcp(out.balance)}`].join('\n'),
      );
    });
}

/** Polls the epochs until `epoch` is posted; fails on a halted poster or after `timeoutMs`. */
export async function waitForPosted(api: ApiClient, epoch: number, timeoutMs: number): Promise<EpochRecord> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { epochs, poster } = await api.rewardsEpochs();
    const record = epochs.find((e) => e.epoch === epoch);
    if (record?.state === 'posted') return record;
    if (poster.state === 'halted') throw new ControlPlaneError(`posting halted at epoch ${poster.epoch ?? '?'}`, { details: poster.reason ?? undefined });
    if (Date.now() > deadline) {
      throw new ControlPlaneError(`epoch ${epoch} not posted within ${Math.round(timeoutMs / 1000)} s`, { details: record?.lastError ?? `poster ${poster.state}` });
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
