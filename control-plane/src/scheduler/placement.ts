import type { Shard } from '../jobs/types.ts';

/**
 * Pure placement: which queued shard runs on which node, and which
 * straggling shards get a speculative copy where. No I/O, no clock: the
 * orchestrator gathers the facts and applies the plan.
 */

/** What the scheduler knows about one online worker. */
export interface NodeSlot {
  nodeId: string;
  /** Shards the node may still take now. */
  freeSlots: number;
  /** Models the node has cached: preferred for shards of those models. */
  cachedModels: ReadonlySet<string>;
  /** Total memory the node announced; null when it did not say. */
  memoryBytes?: number | null;
  /** The node's own judgement from its latest (fresh) telemetry. */
  overheating?: boolean;
  /** Quarantined by the spot checker: no work at all. */
  quarantined?: boolean;
  /** Failed spot checks on record: among equals, the node with fewer gets the work. */
  failedChecks?: number;
  agentVersion?: string;
  /** The EVM address the node is bound to; a speculative copy prefers another owner. */
  owner?: string | null;
  /** Workloads the node has a runtime for; absent: any. */
  workloads?: ReadonlySet<string>;
}

/** What placement needs to know about one job with queued shards. */
export interface JobDemand {
  jobId: string;
  /** Fair-share weight (≥ 1). */
  priority: number;
  /** Older jobs win ties. */
  createdAt: number;
  modelSha256: string;
  modelSize: number;
  /** The job's workload: only nodes with a runtime for it get its shards (absent: infer). */
  workload?: string;
  /** Live leases the job holds now. */
  running: number;
  /** Its queued shards, in the order they should run. */
  queued: readonly Shard[];
}

export interface PlacementPolicy {
  /** Nodes reporting an older agent are not given work (null: any version). */
  minAgentVersion: string | null;
  /** A node needs memoryBytes ≥ model size × memoryFactor (weights plus context and compute buffers). */
  memoryFactor: number;
}

export const DEFAULT_PLACEMENT_POLICY: PlacementPolicy = { minAgentVersion: null, memoryFactor: 1.25 };

export interface Placement {
  shardId: string;
  jobId: string;
  nodeId: string;
}

export type Eligibility = { eligible: true } | { eligible: false; reason: string };

/** Whether a node may run shards of a model of this size at all (exclusions per shard aside). */
export function nodeEligibility(node: NodeSlot, modelSize: number, policy: PlacementPolicy): Eligibility {
  if (node.quarantined) return { eligible: false, reason: 'quarantined' };
  if (node.overheating) return { eligible: false, reason: 'overheating' };
  if (policy.minAgentVersion !== null) {
    if (!node.agentVersion) return { eligible: false, reason: 'agent version unknown' };
    if (compareSemver(node.agentVersion, policy.minAgentVersion) < 0) {
      return { eligible: false, reason: `agent ${node.agentVersion} is older than ${policy.minAgentVersion}` };
    }
  }
  if (node.memoryBytes !== null && node.memoryBytes !== undefined && node.memoryBytes < modelSize * policy.memoryFactor) {
    return { eligible: false, reason: `${node.memoryBytes} bytes of memory is too little for a ${modelSize}-byte model` };
  }
  return { eligible: true };
}

/** Whether a node announced a runtime for a workload (absent workload: infer). */
export function runsWorkload(node: NodeSlot, workload: string | undefined): boolean {
  return !node.workloads || node.workloads.has(workload ?? 'infer');
}

/**
 * Fair share with priorities: free slots go, one at a time, to the job with
 * the fewest live leases per unit of priority (older job first on a tie), so
 * a big job cannot starve a small one and a priority-20 job gets twice the
 * slots of a priority-10 one while both have work. Each shard goes to an
 * eligible node with a free slot that is not excluded from it, by tiers (the
 * model cached, then fewer failed spot checks) and round-robin within a tier,
 * emptiest node first (see NodePicker).
 */
export function planPlacements(jobs: readonly JobDemand[], nodes: readonly NodeSlot[], policy: PlacementPolicy = DEFAULT_PLACEMENT_POLICY): Placement[] {
  const free = new Map(nodes.map((n) => [n.nodeId, Math.max(0, n.freeSlots)]));
  let freeTotal = [...free.values()].reduce((a, b) => a + b, 0);
  const placements: Placement[] = [];
  const open = jobs
    .filter((j) => j.queued.length > 0)
    .map((job) => ({
      job,
      load: job.running,
      cursor: 0,
      weight: Math.max(1, job.priority),
      picker: new NodePicker(
        nodes.filter((n) => nodeEligibility(n, job.modelSize, policy).eligible && runsWorkload(n, job.workload)),
        free,
        job.modelSha256,
      ),
    }));
  while (freeTotal > 0 && open.length > 0) {
    let pick = 0;
    for (let i = 1; i < open.length; i++) if (beforeInShare(open[i]!, open[pick]!)) pick = i;
    const entry = open[pick]!;
    let placed = false;
    while (!placed && entry.cursor < entry.job.queued.length) {
      const shard = entry.job.queued[entry.cursor++]!;
      const node = entry.picker.take(shard.excludedNodes);
      if (!node) continue;
      freeTotal--;
      entry.load++;
      placements.push({ shardId: shard.id, jobId: entry.job.jobId, nodeId: node.nodeId });
      placed = true;
    }
    if (entry.cursor >= entry.job.queued.length) open.splice(pick, 1);
  }
  return placements;
}

/** A leased shard that runs much longer than its job's other shards. */
export interface RunningShard {
  shardId: string;
  jobId: string;
  /** The node holding the shard's lease. */
  nodeId: string;
  leasedAt: number;
  excludedNodes: readonly string[];
}

/** The pace of one job whose queue is empty: its finished shards' run times and the lease it grants. */
export interface JobPace {
  jobId: string;
  modelSha256: string;
  modelSize: number;
  /** The job's workload (absent: infer). */
  workload?: string;
  /** Lease-to-result times of its completed shards, in ms. */
  completedMs: readonly number[];
  /** The lease duration its shards get (the fallback pace when none has finished). */
  leaseMs: number;
}

export interface StragglerPolicy {
  /** A shard straggles when it has run factor × the job's median shard time… */
  factor: number;
  /** …and at least this long. */
  minRunMs: number;
  /** With no finished shard to compare with, it straggles after this fraction of its lease. */
  leaseFraction: number;
}

export const DEFAULT_STRAGGLER_POLICY: StragglerPolicy = { factor: 3, minRunMs: 10_000, leaseFraction: 0.5 };

/** How long a shard of this job may run before it counts as a straggler. */
export function stragglerThresholdMs(pace: JobPace, policy: StragglerPolicy): number {
  const median = medianOf(pace.completedMs);
  const expected = median === null ? pace.leaseMs * policy.leaseFraction : median * policy.factor;
  return Math.max(policy.minRunMs, expected);
}

export interface Speculation {
  shardId: string;
  jobId: string;
  nodeId: string;
}

/**
 * Near the end of a job (its queue empty), shards running far longer than
 * their peers get a speculative copy on another node: the longest-running
 * first, each on the best eligible free node that does not hold or exclude
 * it, preferring a node of another owner (a different home, power and link).
 * `running` holds only shards without a copy yet.
 */
export function planSpeculation(
  running: readonly RunningShard[],
  paces: readonly JobPace[],
  nodes: readonly NodeSlot[],
  now: number,
  policy: StragglerPolicy = DEFAULT_STRAGGLER_POLICY,
  placement: PlacementPolicy = DEFAULT_PLACEMENT_POLICY,
): Speculation[] {
  const paceOf = new Map(paces.map((p) => [p.jobId, p]));
  const free = new Map(nodes.map((n) => [n.nodeId, Math.max(0, n.freeSlots)]));
  const ownerOf = new Map(nodes.map((n) => [n.nodeId, n.owner ?? null]));
  const stragglers = running
    .filter((s) => {
      const pace = paceOf.get(s.jobId);
      return pace !== undefined && now - s.leasedAt >= stragglerThresholdMs(pace, policy);
    })
    .sort((a, b) => a.leasedAt - b.leasedAt || (a.shardId < b.shardId ? -1 : 1));
  const plan: Speculation[] = [];
  for (const shard of stragglers) {
    const pace = paceOf.get(shard.jobId)!;
    const holderOwner = ownerOf.get(shard.nodeId) ?? null;
    const candidates = nodes.filter(
      (n) =>
        n.nodeId !== shard.nodeId &&
        !shard.excludedNodes.includes(n.nodeId) &&
        nodeEligibility(n, pace.modelSize, placement).eligible &&
        runsWorkload(n, pace.workload),
    );
    const otherOwner = (n: NodeSlot): boolean => holderOwner === null || (n.owner ?? null) !== holderOwner;
    const node =
      bestNode(candidates, free, pace.modelSha256, otherOwner) ?? bestNode(candidates, free, pace.modelSha256, () => true);
    if (!node) continue;
    free.set(node.nodeId, (free.get(node.nodeId) ?? 0) - 1);
    plan.push({ shardId: shard.shardId, jobId: shard.jobId, nodeId: node.nodeId });
  }
  return plan;
}

/**
 * Picks nodes for one job's shards in preference order without rescanning
 * the fleet for every shard: nodes are sorted once into tiers (model cached,
 * then fewer failed spot checks); within a tier they are taken round-robin,
 * emptiest first, so work spreads; a lower tier is used only when the tiers
 * above have no free slot. `free` is shared by every job of the plan.
 */
class NodePicker {
  readonly #tiers: { nodes: NodeSlot[]; cursor: number }[];
  readonly #free: Map<string, number>;

  constructor(nodes: readonly NodeSlot[], free: Map<string, number>, model: string) {
    this.#free = free;
    const sorted = [...nodes].sort((a, b) => (better(a, b, free, model) ? -1 : better(b, a, free, model) ? 1 : 0));
    const tiers = new Map<string, NodeSlot[]>();
    for (const node of sorted) {
      const key = `${node.cachedModels.has(model) ? 0 : 1}:${node.failedChecks ?? 0}`;
      let tier = tiers.get(key);
      if (!tier) tiers.set(key, (tier = []));
      tier.push(node);
    }
    this.#tiers = [...tiers.values()].map((tierNodes) => ({ nodes: tierNodes, cursor: 0 }));
  }

  /** The next node with a free slot that is not excluded; takes the slot. Null when none is left. */
  take(excluded: readonly string[]): NodeSlot | null {
    for (const tier of this.#tiers) {
      // Full nodes never free up within one plan: drop them as the cursor meets them.
      for (let seen = 0; tier.nodes.length > 0 && seen < tier.nodes.length; seen++) {
        if (tier.cursor >= tier.nodes.length) tier.cursor = 0;
        const node = tier.nodes[tier.cursor]!;
        if ((this.#free.get(node.nodeId) ?? 0) <= 0) {
          tier.nodes.splice(tier.cursor, 1);
          seen--;
          continue;
        }
        if (excluded.includes(node.nodeId)) {
          tier.cursor++;
          continue;
        }
        this.#free.set(node.nodeId, (this.#free.get(node.nodeId) ?? 0) - 1);
        tier.cursor++;
        return node;
      }
    }
    return null;
  }
}

function beforeInShare(
  a: { load: number; weight: number; job: JobDemand },
  b: { load: number; weight: number; job: JobDemand },
): boolean {
  // a.load / a.weight < b.load / b.weight, without division.
  const lhs = a.load * b.weight;
  const rhs = b.load * a.weight;
  if (lhs !== rhs) return lhs < rhs;
  if (a.job.createdAt !== b.job.createdAt) return a.job.createdAt < b.job.createdAt;
  return a.job.jobId < b.job.jobId;
}

function bestNode(nodes: readonly NodeSlot[], free: Map<string, number>, model: string, allowed: (n: NodeSlot) => boolean): NodeSlot | null {
  let best: NodeSlot | null = null;
  for (const node of nodes) {
    if ((free.get(node.nodeId) ?? 0) <= 0 || !allowed(node)) continue;
    if (!best || better(node, best, free, model)) best = node;
  }
  return best;
}

function better(a: NodeSlot, b: NodeSlot, free: Map<string, number>, model: string): boolean {
  const aCached = a.cachedModels.has(model);
  const bCached = b.cachedModels.has(model);
  if (aCached !== bCached) return aCached;
  const aFailed = a.failedChecks ?? 0;
  const bFailed = b.failedChecks ?? 0;
  if (aFailed !== bFailed) return aFailed < bFailed;
  const aSlots = free.get(a.nodeId) ?? 0;
  const bSlots = free.get(b.nodeId) ?? 0;
  if (aSlots !== bSlots) return aSlots > bSlots;
  return a.nodeId < b.nodeId;
}

function medianOf(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Compares two semantic versions (major.minor.patch, then a pre-release,
 * which sorts before its release; build metadata ignored). Returns <0, 0, >0.
 * An unparsable version sorts before every valid one.
 */
export function compareSemver(a: string, b: string): number {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  if (!pa || !pb) return (pa ? 1 : 0) - (pb ? 1 : 0);
  for (let i = 0; i < 3; i++) {
    const d = pa.core[i]! - pb.core[i]!;
    if (d !== 0) return d;
  }
  if (pa.pre.length === 0 || pb.pre.length === 0) return pb.pre.length - pa.pre.length;
  for (let i = 0; i < Math.max(pa.pre.length, pb.pre.length); i++) {
    const x = pa.pre[i];
    const y = pb.pre[i];
    if (x === undefined) return -1;
    if (y === undefined) return 1;
    const xn = /^\d+$/.test(x);
    const yn = /^\d+$/.test(y);
    if (xn && yn && Number(x) !== Number(y)) return Number(x) - Number(y);
    if (xn !== yn) return xn ? -1 : 1;
    if (x !== y) return x < y ? -1 : 1;
  }
  return 0;
}

function parseSemver(v: string): { core: number[]; pre: string[] } | null {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(v.trim());
  if (!m) return null;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}
