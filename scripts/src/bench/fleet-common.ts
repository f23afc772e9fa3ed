import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalNetwork, type LocalNetwork } from '../fleet/network.ts';

/** Resident set size of a process, in bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  const kib = Number(line?.split(/\s+/)[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmRSS for pid ${pid}`);
  return kib * 1024;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc; clock ticks of 10 ms). */
export function cpuMsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** `meshchain serve --no-chain` (API, embedded broker, SQLite) as its own process in a temp dir; `MESHCHAIN_BENCH_PROFILE_DIR` profiles it. */
export async function startBenchControlPlane(env: NodeJS.ProcessEnv = {}): Promise<{ network: LocalNetwork; pid: number; stop(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshchain-bench-'));
  // MESHCHAIN_BENCH_PROFILE_DIR=<dir>: the control plane writes a V8 CPU profile there when it stops.
  const profileDir = process.env.MESHCHAIN_BENCH_PROFILE_DIR;
  const network = await startLocalNetwork({
    dir,
    nodes: 0,
    logLevel: 'warn',
    controlPlaneEnv: { MESHCHAIN_CHAIN_ENABLED: 'false', ...env },
    ...(profileDir ? { controlPlaneNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
  });
  const pid = network.controlPlane.child.pid;
  if (pid === undefined) throw new Error('control plane has no pid');
  return {
    network,
    pid,
    async stop() {
      await network.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
