import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { AgentError } from '../errors.ts';

/** What the box's A/B system looks like. */
export interface SystemSlotStatus {
  /** The slot the box booted from, e.g. `rootfs.0`. */
  booted: string | null;
  /** The boot slot the bootloader picks next (after an install: the other one). */
  primary: string | null;
  /** Per slot: its bundle version (when RAUC recorded one) and its good/bad mark. */
  slots: { name: string; bootname: string | null; state: string | null; version: string | null; good: boolean | null }[];
}

/**
 * `system` updates, behind an interface: the real one drives RAUC, tests use
 * a fake. `install` writes a bundle into the inactive slot and makes it the
 * next boot; `markGood` commits the slot the box booted from (until then the
 * bootloader falls back after its boot attempts run out).
 */
export interface SystemInstaller {
  install(bundlePath: string, signal?: AbortSignal): Promise<void>;
  markGood(): Promise<void>;
  status(): Promise<SystemSlotStatus>;
}

/** Runs a command; resolves with stdout, rejects on a non-zero exit. */
export type CommandRunner = (file: string, args: readonly string[], signal?: AbortSignal) => Promise<string>;

const execFileAsync = promisify(execFile);
export const runCommand: CommandRunner = async (file, args, signal) =>
  (await execFileAsync(file, [...args], { maxBuffer: 16 * 1024 * 1024, ...(signal ? { signal } : {}) })).stdout;

export class SystemUpdateError extends AgentError {
  override name = 'SystemUpdateError';
}

interface RaucStatusJson {
  booted?: string;
  boot_primary?: string;
  slots?: Record<string, { bootname?: string; state?: string; slot_status?: { bundle?: { version?: string }; status?: string }; boot_status?: string }>[];
}

/** The real installer: `rauc install`, `rauc status mark-good`, `rauc status --output-format=json`. */
export class RaucInstaller implements SystemInstaller {
  readonly #run: CommandRunner;
  readonly #rauc: string;

  constructor(options: { run?: CommandRunner; raucPath?: string } = {}) {
    this.#run = options.run ?? runCommand;
    this.#rauc = options.raucPath ?? 'rauc';
  }

  async install(bundlePath: string, signal?: AbortSignal): Promise<void> {
    await this.#call(['install', bundlePath], 'rauc install failed', signal);
  }

  async markGood(): Promise<void> {
    await this.#call(['status', 'mark-good'], 'rauc could not mark the booted slot good');
  }

  async status(): Promise<SystemSlotStatus> {
    const text = await this.#call(['status', '--detailed', '--output-format=json'], 'rauc status failed');
    let parsed: RaucStatusJson;
    try {
      parsed = JSON.parse(text) as RaucStatusJson;
    } catch (cause) {
      throw new SystemUpdateError('rauc status printed something that is not JSON', { cause, details: text.slice(0, 200) });
    }
    const slots = (parsed.slots ?? []).flatMap((entry) =>
      Object.entries(entry).map(([name, slot]) => ({
        name,
        bootname: slot.bootname ?? null,
        state: slot.state ?? null,
        version: slot.slot_status?.bundle?.version ?? null,
        good: slot.boot_status === undefined ? null : slot.boot_status === 'good',
      })),
    );
    return { booted: parsed.booted ?? null, primary: parsed.boot_primary ?? null, slots };
  }

  async #call(args: string[], what: string, signal?: AbortSignal): Promise<string> {
    try {
      return await this.#run(this.#rauc, args, signal);
    } catch (cause) {
      const stderr = (cause as { stderr?: unknown }).stderr;
      throw new SystemUpdateError(what, { cause, details: typeof stderr === 'string' && stderr ? stderr.trim().slice(0, 500) : (cause as Error).message });
    }
  }
}
