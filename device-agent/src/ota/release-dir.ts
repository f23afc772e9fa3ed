import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, readlink, rename, rm, stat, symlink } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { AgentError } from '../errors.ts';

/** Unpacks an artifact into an empty directory. */
export type Unpack = (artifactPath: string, intoDir: string) => Promise<void>;

/** The default `app` artifact format: a gzipped tarball of the agent's release directory (GNU tar refuses `..` and absolute names). */
export const tarUnpack: Unpack = async (artifactPath, intoDir) => {
  await promisify(execFile)('tar', ['-xzf', artifactPath, '-C', intoDir, '--no-same-owner', '--no-same-permissions']);
};

export interface PendingUpdate {
  from: string;
  to: string;
  startedAt: number;
  /** The new release must report healthy before this, or the previous one comes back. */
  deadline: number;
}

export interface UpdateOutcome {
  version: string;
  from: string;
  outcome: 'healthy' | 'rolled_back' | 'abandoned';
  reason: string | null;
  at: number;
}

export interface OtaState {
  version: 1;
  pending: PendingUpdate | null;
  last: UpdateOutcome | null;
}

const VERSION_DIR = /^[0-9A-Za-z.+-]{1,128}$/;

/**
 * The agent's releases on disk:
 *
 *   <root>/releases/<version>/   one unpacked agent per version
 *   <root>/current               symlink to releases/<version>: what systemd runs
 *   <root>/ota-state.json        the update in progress, and the last outcome
 *
 * Every change is a rename (the staging directory, the `current` symlink, the
 * state file), so a power cut at any point leaves either the old or the new
 * value, never a mix.
 */
export class ReleaseDirectory {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  get currentLink(): string {
    return join(this.root, 'current');
  }

  releasePath(version: string): string {
    if (!VERSION_DIR.test(version) || version === '.' || version === '..') throw new AgentError(`not a release directory name: ${version}`);
    return join(this.root, 'releases', version);
  }

  /** The version `current` points at; null when there is none. */
  async currentVersion(): Promise<string | null> {
    const target = await readlink(this.currentLink).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return null;
      throw error;
    });
    return target === null ? null : basename(target);
  }

  async hasRelease(version: string): Promise<boolean> {
    return (await stat(this.releasePath(version)).catch(() => null))?.isDirectory() ?? false;
  }

  async installedVersions(): Promise<string[]> {
    const names = await readdir(join(this.root, 'releases')).catch(() => [] as string[]);
    return names.filter((n) => !n.startsWith('.'));
  }

  /** Unpacks into a staging directory, then renames it to releases/<version>. */
  async stage(version: string, artifactPath: string, unpack: Unpack): Promise<string> {
    const final = this.releasePath(version);
    if ((await this.currentVersion()) === version) throw new AgentError(`release ${version} is the current one; refusing to replace it`);
    const staging = join(this.root, 'releases', `.staging-${version}-${randomBytes(4).toString('hex')}`);
    await mkdir(staging, { recursive: true, mode: 0o755 });
    try {
      await unpack(artifactPath, staging);
      await rm(final, { recursive: true, force: true });
      await rename(staging, final);
    } finally {
      await rm(staging, { recursive: true, force: true });
    }
    return final;
  }

  /** Points `current` at releases/<version> atomically: a new symlink renamed over the old one. */
  async switchTo(version: string): Promise<void> {
    if (!(await this.hasRelease(version))) throw new AgentError(`release ${version} is not installed; cannot switch to it`);
    const temp = join(this.root, `.current-${randomBytes(4).toString('hex')}`);
    await symlink(join('releases', version), temp);
    try {
      await rename(temp, this.currentLink);
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    await fsyncDir(this.root);
  }

  async readState(): Promise<OtaState> {
    const text = await readFile(join(this.root, 'ota-state.json'), 'utf8').catch(() => null);
    if (text === null) return { version: 1, pending: null, last: null };
    try {
      const parsed = JSON.parse(text) as OtaState;
      if (parsed.version !== 1) throw new Error('unknown version');
      return parsed;
    } catch {
      // A torn file cannot happen with rename; a corrupt one means "no update in progress".
      return { version: 1, pending: null, last: null };
    }
  }

  async writeState(state: OtaState): Promise<void> {
    const temp = join(this.root, `.ota-state-${randomBytes(4).toString('hex')}`);
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(JSON.stringify(state) + '\n');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, join(this.root, 'ota-state.json'));
    await fsyncDir(this.root);
  }

  /** Removes leftovers of interrupted work: staging directories and temp links. */
  async removeLeftovers(): Promise<void> {
    for (const name of await readdir(join(this.root, 'releases')).catch(() => [] as string[])) {
      if (name.startsWith('.staging-')) await rm(join(this.root, 'releases', name), { recursive: true, force: true });
    }
    for (const name of await readdir(this.root).catch(() => [] as string[])) {
      if (name.startsWith('.current-') || name.startsWith('.ota-state-')) await rm(join(this.root, name), { force: true });
    }
  }

  /** Deletes every release but those named. */
  async prune(keep: readonly string[]): Promise<void> {
    for (const version of await this.installedVersions()) {
      if (!keep.includes(version)) await rm(this.releasePath(version), { recursive: true, force: true });
    }
  }
}

async function fsyncDir(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
