import type { Workload } from '@meshchain/protocol';
import { ControlPlaneError } from '../errors.ts';
import { inferWorkload } from './infer.ts';
import { syntheticWorkload } from './synthetic.ts';
import { embedWorkload } from './embed.ts';
import { verifyWorkload } from './verify.ts';
import type { WorkloadModule } from './types.ts';

export type { LeaseTiming, OutputLine, ParsedJobRequest, ShardUnits, WorkloadModule } from './types.ts';

/** Every workload the control plane runs, by name. Adding one: a module here and a member in protocol's unions. */
export const WORKLOAD_MODULES: Readonly<Record<Workload, WorkloadModule>> = {
  infer: inferWorkload,
  synthetic: syntheticWorkload,
  embed: embedWorkload,
  verify: verifyWorkload,
};

export function workloadModule(name: string): WorkloadModule {
  const module = Object.hasOwn(WORKLOAD_MODULES, name) ? WORKLOAD_MODULES[name as Workload] : undefined;
  if (!module) throw new ControlPlaneError(`unknown workload "${name}"`, { details: `known: ${Object.keys(WORKLOAD_MODULES).join(', ')}` });
  return module;
}
