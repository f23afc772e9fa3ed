/**
 * The device password: set once from the page (first visit) or preset in
 * the agent's config. Stored as an scrypt hash with a random salt in a JSON
 * file of mode 0600; the password itself is never written or logged.
 *
 * Hashing is deliberately slow (about 90 ms on an x86 core, a few hundred on a
 * Pi), so verifications run one at a time: a burst of logins takes one
 * libuv thread, not the four that the job runner's file I/O shares.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import { z } from 'zod';
import { WebError, isSystemError, messageOf } from './errors.ts';
import type { WebLogger } from './types.ts';

export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 256;

export interface ScryptParams {
  /** CPU/memory cost, a power of two. */
  N: number;
  r: number;
  p: number;
}

/** 32 MiB and ~90 ms per hash on x86; the file records the parameters, so they can change later. */
export const DEFAULT_SCRYPT: ScryptParams = { N: 2 ** 15, r: 8, p: 1 };

const KEY_LENGTH = 32;

const fileSchema = z.object({
  version: z.literal(1),
  kdf: z.literal('scrypt'),
  N: z.number().int().min(2),
  r: z.number().int().min(1),
  p: z.number().int().min(1),
  salt: z.string().min(16),
  hash: z.string().min(16),
  createdAt: z.number(),
});
type PasswordFile = z.infer<typeof fileSchema>;

interface Hashed {
  params: ScryptParams;
  salt: Buffer;
  hash: Buffer;
}

export type PasswordState = 'unset' | 'set' | 'damaged';
export type PasswordSource = 'file' | 'config';

export interface PasswordStoreOptions {
  /** The hash file, in the agent's data directory. */
  path: string;
  /** From the agent's config; when given it is the password and the page cannot set another. */
  preset?: string | undefined;
  scrypt?: ScryptParams;
  logger: WebLogger;
  now: () => number;
}

export class PasswordStore {
  readonly #o: PasswordStoreOptions;
  readonly #params: ScryptParams;
  #hashed: Hashed | null = null;
  #state: PasswordState = 'unset';
  #source: PasswordSource | null = null;
  /** Hashing runs one at a time (see the file comment). */
  #queue: Promise<unknown> = Promise.resolve();

  constructor(options: PasswordStoreOptions) {
    this.#o = options;
    this.#params = options.scrypt ?? DEFAULT_SCRYPT;
  }

  get state(): PasswordState {
    return this.#state;
  }

  get source(): PasswordSource | null {
    return this.#source;
  }

  /** Reads the hash file, or hashes the preset password. A damaged file leaves the store `damaged`: nothing can log in, nothing can set a new password. */
  async load(): Promise<void> {
    const preset = this.#o.preset;
    if (preset !== undefined) {
      checkStrength(preset, 'the web password in the agent config');
      this.#hashed = await this.#serial(() => hashPassword(preset, this.#params));
      this.#state = 'set';
      this.#source = 'config';
      return;
    }
    let text: string;
    try {
      text = await readFile(this.#o.path, 'utf8');
    } catch (error) {
      if (isSystemError(error, 'ENOENT')) {
        this.#state = 'unset';
        return;
      }
      throw new WebError('cannot read the web password file', { code: 'invalid-config', details: this.#o.path, cause: error });
    }
    try {
      const file = fileSchema.parse(JSON.parse(text));
      this.#hashed = {
        params: { N: file.N, r: file.r, p: file.p },
        salt: Buffer.from(file.salt, 'base64'),
        hash: Buffer.from(file.hash, 'base64'),
      };
      this.#state = 'set';
      this.#source = 'file';
    } catch (error) {
      this.#state = 'damaged';
      this.#o.logger.error(
        { path: this.#o.path, error: messageOf(error) },
        'web password file is damaged: delete it and restart the agent to set a new password from the page',
      );
      return;
    }
    await this.#tightenMode();
  }

  /** Throws the refusal to set a password now: already set (409) or a damaged file (503). */
  assertUnset(): void {
    if (this.#state === 'damaged') throw damaged(this.#o.path);
    if (this.#state === 'set') {
      throw new WebError(
        this.#source === 'config'
          ? 'The password is set in the agent config; change it there.'
          : 'A device password is already set. Log in with it instead.',
        { code: 'password-already-set' },
      );
    }
  }

  /** First visit only: sets the password when none is set. */
  async set(password: unknown): Promise<void> {
    this.assertUnset();
    checkStrength(password, 'the password');
    await this.#serial(async () => {
      this.assertUnset(); // again, under the lock: two first visits at once set it once
      const hashed = await hashPassword(password, this.#params);
      await this.#write(hashed);
      this.#hashed = hashed;
      this.#state = 'set';
      this.#source = 'file';
    });
  }

  /** True when `password` is the device password. */
  async verify(password: string): Promise<boolean> {
    if (this.#state === 'damaged') throw damaged(this.#o.path);
    const hashed = this.#hashed;
    if (hashed === null) throw notSet();
    if (typeof password !== 'string' || password.length === 0 || password.length > MAX_PASSWORD_LENGTH) return false;
    const candidate = await this.#serial(() => scrypt(password, hashed.salt, hashed.params, hashed.hash.length));
    return candidate.length === hashed.hash.length && timingSafeEqual(candidate, hashed.hash);
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(work, work);
    this.#queue = run.catch(() => undefined);
    return run;
  }

  async #write(hashed: Hashed): Promise<void> {
    const file: PasswordFile = {
      version: 1,
      kdf: 'scrypt',
      ...hashed.params,
      salt: hashed.salt.toString('base64'),
      hash: hashed.hash.toString('base64'),
      createdAt: this.#o.now(),
    };
    const tmp = `${this.#o.path}.${randomBytes(6).toString('hex')}.tmp`;
    try {
      await mkdir(dirname(this.#o.path), { recursive: true, mode: 0o700 });
      const handle = await open(tmp, 'wx', 0o600);
      try {
        await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, this.#o.path);
    } catch (error) {
      await rm(tmp, { force: true });
      throw new WebError('Could not save the password on the box.', {
        code: 'internal',
        details: `writing ${this.#o.path}: ${messageOf(error)}`,
        cause: error,
      });
    }
  }

  async #tightenMode(): Promise<void> {
    try {
      const info = await stat(this.#o.path);
      if ((info.mode & 0o077) !== 0) {
        await chmod(this.#o.path, 0o600);
        this.#o.logger.warn({ path: this.#o.path, mode: (info.mode & 0o777).toString(8) }, 'web password file was readable by others; set its mode to 0600');
      }
    } catch (error) {
      this.#o.logger.warn({ path: this.#o.path, error: messageOf(error) }, 'cannot check the web password file mode');
    }
  }
}

export function checkStrength(password: unknown, what: string): asserts password is string {
  if (typeof password !== 'string') {
    throw new WebError('Send the password as a string.', { code: 'invalid-input' });
  }
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new WebError(`Choose a longer password: at least ${MIN_PASSWORD_LENGTH} characters.`, {
      code: 'invalid-input',
      details: `${what} has ${length}`,
    });
  }
  if (length > MAX_PASSWORD_LENGTH) {
    throw new WebError(`Choose a shorter password: at most ${MAX_PASSWORD_LENGTH} characters.`, { code: 'invalid-input' });
  }
}

function notSet(): WebError {
  return new WebError('No device password is set yet. Set one in Settings first.', { code: 'password-not-set' });
}

function damaged(path: string): WebError {
  return new WebError('The password file on the box is damaged. Delete it on the box and restart the agent to set a new one.', {
    code: 'password-file-damaged',
    details: path,
  });
}

async function hashPassword(password: string, params: ScryptParams): Promise<Hashed> {
  const salt = randomBytes(16);
  return { params, salt, hash: await scrypt(password, salt, params, KEY_LENGTH) };
}

function scrypt(password: string, salt: Buffer, params: ScryptParams, keyLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    // maxmem: scrypt needs 128·N·r bytes; allow twice that.
    const options = { ...params, maxmem: 256 * params.N * params.r };
    scryptCallback(password.normalize('NFC'), salt, keyLength, options, (error, key) => {
      if (error) reject(new WebError('cannot hash the password', { code: 'internal', cause: error }));
      else resolve(key);
    });
  });
}
