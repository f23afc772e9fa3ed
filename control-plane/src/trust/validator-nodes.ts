/**
 * Validator nodes and owners, as pure functions: which online validator may
 * check a result (never one of the worker's owner's nodes), and which nodes
 * a rejected shard must avoid (every node of the rejected node's owner).
 */

/** A node's owner for trust decisions: its bound EVM address, or the node itself when unbound. */
export function ownerKey(nodeId: string, owners: ReadonlyMap<string, string>): string {
  return owners.get(nodeId) ?? `node:${nodeId}`;
}

/** What the spot checker knows about one online node with role `validator`. */
export interface ValidatorCandidate {
  nodeId: string;
  /** Verification tasks it holds and has not answered. */
  openTasks: number;
  /** How many tasks it may hold at once (its announced concurrency). */
  maxTasks: number;
  quarantined: boolean;
  /** Models it has cached: preferred, no download needed. */
  cachedModels: ReadonlySet<string>;
}

/**
 * The validator node to hand a check of `workerId`'s result to, or null (the
 * control plane checks it itself): not the worker, not of the worker's owner,
 * not quarantined, not excluded, with a free task slot; the model cached
 * first, then the fewest open tasks, then node id.
 */
export function pickValidator(
  candidates: readonly ValidatorCandidate[],
  workerId: string,
  modelSha256: string,
  owners: ReadonlyMap<string, string>,
  excluded: ReadonlySet<string> = new Set(),
): string | null {
  let best: ValidatorCandidate | null = null;
  for (const c of eligibleValidators(candidates, workerId, owners, excluded)) {
    if (c.openTasks >= c.maxTasks) continue;
    if (!best || better(c, best, modelSha256)) best = c;
  }
  return best?.nodeId ?? null;
}

/** Validators that may check `workerId`'s results at all, busy or not: not the worker, not of its owner, not quarantined or excluded. */
export function eligibleValidators(
  candidates: readonly ValidatorCandidate[],
  workerId: string,
  owners: ReadonlyMap<string, string>,
  excluded: ReadonlySet<string> = new Set(),
): ValidatorCandidate[] {
  const workerOwner = ownerKey(workerId, owners);
  return candidates.filter((c) => c.nodeId !== workerId && !c.quarantined && !excluded.has(c.nodeId) && ownerKey(c.nodeId, owners) !== workerOwner);
}

function better(a: ValidatorCandidate, b: ValidatorCandidate, model: string): boolean {
  const aCached = a.cachedModels.has(model);
  const bCached = b.cachedModels.has(model);
  if (aCached !== bCached) return aCached;
  if (a.openTasks !== b.openTasks) return a.openTasks < b.openTasks;
  return a.nodeId < b.nodeId;
}

/**
 * Widens each shard's exclusions from nodes to owners: a shard that one node
 * of an owner got wrong goes to a node of another owner, never to a sibling
 * box of the same owner (same home, same hands). Unbound nodes are their own
 * owners. Returns the same objects when nothing changes.
 */
export function excludeOwners<T extends { excludedNodes: readonly string[] }>(shards: readonly T[], owners: ReadonlyMap<string, string>): T[] {
  if (owners.size === 0) return [...shards];
  const byOwner = new Map<string, string[]>();
  for (const [nodeId, owner] of owners) byOwner.set(owner, [...(byOwner.get(owner) ?? []), nodeId]);
  return shards.map((shard) => {
    if (shard.excludedNodes.length === 0) return shard;
    const widened = new Set(shard.excludedNodes);
    for (const nodeId of shard.excludedNodes) {
      const owner = owners.get(nodeId);
      if (owner) for (const sibling of byOwner.get(owner) ?? []) widened.add(sibling);
    }
    return widened.size === shard.excludedNodes.length ? shard : { ...shard, excludedNodes: [...widened] };
  });
}

export type AuditDecision = { audit: true; rate: number } | { audit: false; rate: number };

/**
 * Whether the control plane re-checks a validator node's verdict itself:
 * always when it convicts (a worker is never penalised on a validator node's
 * word alone), otherwise at the validator's own sampling rate (every verdict
 * of a new validator, fewer as it earns trust).
 */
export function decideAudit(claim: 'pass' | 'fail', validatorRate: number, draw: number): AuditDecision {
  if (claim === 'fail') return { audit: true, rate: 1 };
  return { audit: draw < validatorRate, rate: validatorRate };
}
