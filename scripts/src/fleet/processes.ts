import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MESHCHAIN_CLI = `${REPO_ROOT}control-plane/src/cli/main.ts`;
export const MESHNODE_CLI = `${REPO_ROOT}device-agent/src/cli/main.ts`;

/** Runs `meshchain <args>` to completion and collects its exit code and output. */
export function runMeshchain(args: readonly string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MESHCHAIN_CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

export interface ManagedProcess {
  name: string;
  child: ChildProcess;
  /** Resolves with the first JSON line on stdout whose `event` matches. */
  waitForEvent<T = Record<string, unknown>>(event: string, timeoutMs?: number): Promise<T>;
  /** Lines of stderr (logs) seen so far. */
  logs(): string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<void>;
  kill(): Promise<void>;
}

/** Runs one of the project's TypeScript entry points as a real child process (node --import tsx). */
export function startProcess(name: string, script: string, args: string[], env: NodeJS.ProcessEnv = {}, nodeArgs: readonly string[] = []): ManagedProcess {
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    cwd: REPO_ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const stderr: string[] = [];
  const events: Record<string, unknown>[] = [];
  const waiters: { event: string; resolve: (value: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > 5000) stderr.shift();
  });
  createInterface({ input: child.stdout! }).on('line', (line) => {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    events.push(parsed);
    for (const waiter of waiters.filter((w) => w.event === parsed.event)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(parsed);
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );

  return {
    name,
    child,
    logs: () => [...stderr],
    exited,
    waitForEvent<T>(event: string, timeoutMs = 60_000): Promise<T> {
      const seen = events.find((e) => e.event === event);
      if (seen) return Promise.resolve(seen as T);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`${name}: no "${event}" within ${timeoutMs} ms\n${stderr.slice(-20).join('\n')}`)), timeoutMs);
        const waiter = {
          event,
          resolve: (value: Record<string, unknown>) => {
            clearTimeout(timer);
            resolve(value as T);
          },
        };
        waiters.push(waiter);
        void exited.then(({ code, signal }) => {
          if (!waiters.includes(waiter)) return;
          clearTimeout(timer);
          reject(new Error(`${name} exited (code ${code}, signal ${signal}) before "${event}"\n${stderr.slice(-20).join('\n')}`));
        });
      });
    },
    async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 30_000): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
    async kill(): Promise<void> {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
  };
}
