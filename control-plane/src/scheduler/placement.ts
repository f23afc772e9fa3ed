import type { Shard } from '../jobs/types.ts';

export interface NodeSlot {
  nodeId: string;
  /** Shards the node may still take now. */
  freeSlots: number;
  /** Models the node has cached: preferred for shards of those models. */
  cachedModels: ReadonlySet<string>;
}

export interface Placement {
  shardId: string;
  nodeId: string;
}

/**
 * Pure placement: walks the queue in order and gives each shard to the node
 * with a free slot that is not excluded from it, preferring nodes that have
 * the shard's model cached, then the emptiest node (spreads work), then node id
 * (deterministic).
 */
export function planPlacements(queue: readonly Shard[], modelOf: (jobId: string) => string, nodes: readonly NodeSlot[]): Placement[] {
  const free = new Map(nodes.map((n) => [n.nodeId, n.freeSlots]));
  const placements: Placement[] = [];
  for (const shard of queue) {
    const model = modelOf(shard.jobId);
    let best: NodeSlot | null = null;
    for (const node of nodes) {
      const slots = free.get(node.nodeId) ?? 0;
      if (slots <= 0 || shard.excludedNodes.includes(node.nodeId)) continue;
      if (!best || better(node, slots, best, free.get(best.nodeId) ?? 0, model)) best = node;
    }
    if (!best) continue;
    free.set(best.nodeId, (free.get(best.nodeId) ?? 0) - 1);
    placements.push({ shardId: shard.id, nodeId: best.nodeId });
  }
  return placements;
}

function better(a: NodeSlot, aSlots: number, b: NodeSlot, bSlots: number, model: string): boolean {
  const aCached = a.cachedModels.has(model);
  const bCached = b.cachedModels.has(model);
  if (aCached !== bCached) return aCached;
  if (aSlots !== bSlots) return aSlots > bSlots;
  return a.nodeId < b.nodeId;
}
