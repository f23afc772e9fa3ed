import { arch, cpus, platform, totalmem } from 'node:os';
import type { CapabilitiesBody } from '@meshchain/protocol';
import { SYNTHETIC_ENGINE } from './runtimes/synthetic/index.ts';

export const AGENT_VERSION = '0.1.0';

export function describeNode(options: { roles: CapabilitiesBody['roles']; models: string[]; engineVersion: string }): CapabilitiesBody {
  const cpuList = cpus();
  return {
    agentVersion: AGENT_VERSION,
    roles: options.roles,
    runtimes: [
      { workload: 'infer', engine: 'node-llama-cpp', version: options.engineVersion },
      { workload: 'synthetic', engine: SYNTHETIC_ENGINE, version: AGENT_VERSION },
      { workload: 'embed', engine: 'node-llama-cpp', version: options.engineVersion },
      // Verification tasks go only to nodes that take the validator role.
      ...(options.roles.includes('validator') ? [{ workload: 'verify' as const, engine: 'node-llama-cpp', version: options.engineVersion }] : []),
    ],
    hardware: {
      arch: arch(),
      platform: platform(),
      cpuModel: (cpuList[0]?.model ?? 'unknown').slice(0, 128),
      cpus: Math.max(1, cpuList.length),
      memoryBytes: totalmem(),
      gpu: null,
    },
    models: options.models.slice(0, 256),
    maxConcurrentShards: 1,
  };
}
