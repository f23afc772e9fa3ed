import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startLocalNetwork, type LocalNetwork } from '../fleet/network.ts';
import { MESHCHAIN_CLI, REPO_ROOT, startProcess, type ManagedProcess } from '../fleet/processes.ts';

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

export interface BenchControlPlane {
  network: LocalNetwork;
  /** The control plane's process (with the broker in it, unless it runs alone). */
  pid: number;
  /** The standalone broker's process, when the broker runs alone. */
  brokerPid: number | null;
  stop(): Promise<void>;
}

export interface BenchControlPlaneOptions {
  env?: NodeJS.ProcessEnv;
  /** `process`: the broker runs alone (`meshchain broker`) and the control plane uses it through `MESHCHAIN_BROKER_URL`. */
  broker?: 'embedded' | 'process';
}

/**
 * `meshchain serve --no-chain` (API, embedded broker, SQLite) as its own
 * process in a temp dir, or with the broker as a second process;
 * `MESHCHAIN_BENCH_PROFILE_DIR` profiles the control plane.
 */
export async function startBenchControlPlane(options: BenchControlPlaneOptions = {}): Promise<BenchControlPlane> {
  const dir = await mkdtemp(join(tmpdir(), 'meshchain-bench-'));
  let broker: ManagedProcess | null = null;
  try {
    const env: NodeJS.ProcessEnv = { MESHCHAIN_CHAIN_ENABLED: 'false', ...options.env };
    if (options.broker === 'process') {
      broker = await startBrokerProcess(join(dir, 'control-plane'));
      env.MESHCHAIN_BROKER_URL = broker.name;
    }
    // MESHCHAIN_BENCH_PROFILE_DIR=<dir>: the control plane writes a V8 CPU profile there when it stops.
    const profileDir = process.env.MESHCHAIN_BENCH_PROFILE_DIR;
    const network = await startLocalNetwork({
      dir,
      nodes: 0,
      logLevel: 'warn',
      controlPlaneEnv: env,
      ...(profileDir ? { controlPlaneNodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] } : {}),
    });
    const pid = network.controlPlane.child.pid;
    if (pid === undefined) throw new Error('control plane has no pid');
    const brokerProcess = broker;
    return {
      network,
      pid,
      brokerPid: brokerProcess?.child.pid ?? null,
      async stop() {
        await network.stop();
        await brokerProcess?.stop();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

/** `meshchain broker` on a free loopback port, trusting the id of the control plane that will use `cpDir`. Its name is its URL. */
async function startBrokerProcess(cpDir: string): Promise<ManagedProcess> {
  await mkdir(cpDir, { recursive: true });
  const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', MESHCHAIN_CLI, 'id', '--data-dir', cpDir], { cwd: REPO_ROOT });
  const cpId = stdout.trim();
  const port = await freePort();
  const url = `mqtt://127.0.0.1:${port}`;
  const proc = startProcess(url, MESHCHAIN_CLI, ['broker', '--trust', cpId, '--host', '127.0.0.1', '--port', String(port)], { MESHCHAIN_LOG_LEVEL: 'warn' });
  // It prints one plain line once it listens.
  await new Promise<void>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`the broker did not start within 60 s\n${proc.logs().slice(-20).join('\n')}`)), 60_000);
    proc.child.stdout?.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (text.includes('listening on')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void proc.exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`the broker exited (code ${code}, signal ${signal}) before listening\n${proc.logs().slice(-20).join('\n')}`));
    });
  });
  return proc;
}

/** A loopback port nothing listens on right now. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}
