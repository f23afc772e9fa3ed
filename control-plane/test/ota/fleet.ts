// A simulated fleet for OTA tests: boxes with a release directory each, run by
// a small supervisor standing in for systemd (ExecStartPre recovery, then
// `current/bin/meshnode`, Restart=always), and real release tarballs whose
// entry point runs this repository's agent as the release's version.
import { spawn, type ChildProcess } from 'node:child_process';
import { execFile } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import { chmod, copyFile, mkdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { sha256Hex, signRelease, type ReleaseManifest, type Signer, type SignedRelease } from '@meshchain/protocol';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FLEET_AGENT = join(REPO_ROOT, 'device-agent/test/ota/fixtures/fleet-agent.ts');
const RECOVER = join(REPO_ROOT, 'device-agent/systemd/meshnode-ota-recover.mjs');
const run = promisify(execFile);

/** Packages resolved from this repository at run time (native addons, ESM-only, worker threads). */
const EXTERNAL = ['better-sqlite3', 'node-llama-cpp', 'onoff', 'epoll', 'systeminformation', 'pino', 'pino-pretty', 'thread-stream'];

/**
 * The agent as one ES module, like a release would ship it: this repository's
 * agent (the fleet entry point) bundled with esbuild, its native and heavy
 * dependencies imported from this checkout by absolute path. Starts in about a
 * quarter of the CPU time of running the TypeScript sources through tsx.
 */
export async function bundleAgent(outfile: string): Promise<void> {
  const from = new URL('../../../device-agent/src/agent.ts', import.meta.url).href;
  await build({
    entryPoints: [FLEET_AGENT],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outfile,
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
    logLevel: 'warning',
    plugins: [
      {
        name: 'repository-externals',
        setup(b) {
          b.onResolve({ filter: new RegExp(`^(${EXTERNAL.join('|')})(/.*)?$`) }, (args) => ({ path: fileURLToPath(import.meta.resolve(args.path, from)), external: true }));
        },
      },
    ],
  });
}

export interface TestRelease {
  version: string;
  artifactPath: string;
  bytes: Buffer;
  manifest: ReleaseManifest;
  signed: SignedRelease;
}

/**
 * A release tarball: `lib/agent.mjs` (from `bundleAgent`) and `bin/meshnode`,
 * which runs it as `version`.
 * `env` adds variables to its entry point (e.g. a broken broker URL: a release
 * that starts but never becomes healthy).
 */
export async function buildRelease(dir: string, key: Signer, version: string, bundle: string, options: { fromVersions?: string[]; env?: Record<string, string> } = {}): Promise<TestRelease> {
  const src = join(dir, `release-src-${version}`);
  await mkdir(join(src, 'bin'), { recursive: true });
  await mkdir(join(src, 'lib'), { recursive: true });
  await copyFile(bundle, join(src, 'lib', 'agent.mjs'));
  const exports = Object.entries({ MESHNODE_AGENT_VERSION: version, ...options.env }).map(([k, v]) => `export ${k}=${JSON.stringify(v)}`);
  await writeFile(
    join(src, 'bin', 'meshnode'),
    ['#!/bin/sh', `# MeshNode agent ${version} (test release)`, ...exports, `exec ${JSON.stringify(process.execPath)} "$(dirname "$0")/../lib/agent.mjs" "$@"`, ''].join('\n'),
  );
  await chmod(join(src, 'bin', 'meshnode'), 0o755);
  await writeFile(join(src, 'VERSION'), `${version}\n`);
  const artifactPath = join(dir, `meshnode-${version}.tar.gz`);
  await run('tar', ['-czf', artifactPath, '-C', src, '.']);
  const bytes = await readFile(artifactPath);
  const manifest: ReleaseManifest = {
    version,
    kind: 'app',
    artifact: { sha256: sha256Hex(bytes), size: bytes.length },
    fromVersions: options.fromVersions ?? ['*'],
    rollback: false,
    compatibility: 'meshnode-arm64',
    createdAt: Date.now(),
  };
  return { version, artifactPath, bytes, manifest, signed: signRelease(manifest, key) };
}

/** A box as the image leaves it: `<root>/releases/<version>` unpacked and `current` pointing at it. */
export async function installRelease(root: string, release: TestRelease): Promise<void> {
  const dir = join(root, 'releases', release.version);
  await mkdir(dir, { recursive: true });
  await run('tar', ['-xzf', release.artifactPath, '-C', dir]);
  await symlink(join('releases', release.version), join(root, 'current'));
}

export async function currentRelease(root: string): Promise<string> {
  return basename(await readlink(join(root, 'current')));
}

/**
 * systemd for one box: before every start the recovery hook, then
 * `current/bin/meshnode`; whenever it exits, start again after `restartMs`.
 */
export class Supervisor extends EventEmitter {
  readonly root: string;
  readonly #env: NodeJS.ProcessEnv;
  readonly #restartMs: number;
  #child: ChildProcess | null = null;
  #stopped = false;
  #timer: NodeJS.Timeout | null = null;
  starts = 0;
  stderr = '';

  constructor(options: { root: string; env: NodeJS.ProcessEnv; restartMs?: number }) {
    super();
    this.root = options.root;
    this.#env = options.env;
    this.#restartMs = options.restartMs ?? 200;
  }

  start(): void {
    void this.#cycle();
  }

  async #cycle(): Promise<void> {
    if (this.#stopped) return;
    // ExecStartPre: never fails the start.
    await run(process.execPath, [RECOVER, this.root], { env: this.#env }).catch((error: unknown) => {
      this.stderr += `recover: ${String(error)}\n`;
    });
    if (this.#stopped) return;
    const child = spawn(join(this.root, 'current', 'bin', 'meshnode'), [], { env: this.#env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    this.starts += 1;
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      for (const line of text.split('\n')) if (line.startsWith('{')) this.emit('line', line);
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      this.stderr = (this.stderr + text).slice(-20_000);
    });
    child.once('exit', () => {
      this.#child = null;
      this.emit('exit');
      if (!this.#stopped) this.#timer = setTimeout(() => void this.#cycle(), this.#restartMs);
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }
}

/** Polls `check` until it returns a value (not undefined/false) or the timeout passes, then throws with `what`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, timeoutMs: number, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
