/**
 * Who may act on the box: the device password (first visit or config),
 * login sessions, and the limits on password attempts. Everything here is
 * in memory except the password hash.
 *
 * Limits: wrong passwords count per client address (5 a minute by default,
 * then 429 with the time to retry); password checks of all clients together
 * are capped too (12 a minute), since each costs a deliberately slow scrypt.
 */
import type { IncomingMessage } from 'node:http';
import { WebError, secondsText } from './errors.ts';
import { bearerOf, clientIp, parseCookies } from './http.ts';
import type { PasswordSource, PasswordStore } from './password-store.ts';
import { type RateLimit, SlidingWindowLimiter } from './rate-limiter.ts';
import { type Session, SessionStore } from './sessions.ts';
import type { WebLogger } from './types.ts';

export const SESSION_COOKIE = 'meshnode_session';

export interface WebAuthOptions {
  passwords: PasswordStore;
  sessionTtlMs: number;
  maxSessions: number;
  failuresPerIp: RateLimit;
  checksGlobal: RateLimit;
  logger: WebLogger;
  now: () => number;
}

export interface AuthStatus {
  passwordSet: boolean;
  passwordSource: PasswordSource | null;
  authenticated: boolean;
  expiresAt: number | null;
  now: number;
}

export class WebAuth {
  readonly #o: WebAuthOptions;
  readonly #sessions: SessionStore;
  readonly #failures: SlidingWindowLimiter;
  readonly #checks: SlidingWindowLimiter;

  constructor(options: WebAuthOptions) {
    this.#o = options;
    this.#sessions = new SessionStore({ ttlMs: options.sessionTtlMs, maxSessions: options.maxSessions, now: options.now });
    this.#failures = new SlidingWindowLimiter(options.failuresPerIp);
    this.#checks = new SlidingWindowLimiter(options.checksGlobal);
  }

  status(req: IncomingMessage): AuthStatus {
    const expiresAt = this.#sessionExpiry(req);
    const passwords = this.#o.passwords;
    return {
      passwordSet: passwords.state !== 'unset',
      passwordSource: passwords.source,
      authenticated: expiresAt !== null,
      expiresAt,
      now: this.#o.now(),
    };
  }

  /** First visit: sets the password and opens a session. */
  async setPassword(req: IncomingMessage, password: unknown): Promise<Session> {
    const ip = clientIp(req);
    this.#o.passwords.assertUnset();
    this.#throttle(ip, false);
    await this.#o.passwords.set(password);
    this.#o.logger.info({ ip }, 'device password set from the web page');
    return this.#sessions.create();
  }

  async logIn(req: IncomingMessage, password: string): Promise<Session> {
    await this.#checkPassword(clientIp(req), password);
    return this.#sessions.create();
  }

  logOut(req: IncomingMessage): void {
    const token = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    if (token) this.#sessions.revoke(token);
  }

  /** Passes with a live session cookie or the password as `Authorization: Bearer` (for scripts); else 401/429. */
  async authorize(req: IncomingMessage): Promise<void> {
    if (this.#sessionExpiry(req) !== null) return;
    const bearer = bearerOf(req.headers.authorization);
    if (bearer !== null) return this.#checkPassword(clientIp(req), bearer);
    if (this.#o.passwords.state === 'unset') {
      throw new WebError('Set a device password first (Settings), then log in.', { code: 'password-not-set' });
    }
    const hadCookie = parseCookies(req.headers.cookie).has(SESSION_COOKIE);
    throw new WebError(hadCookie ? 'Your login has expired. Log in again.' : 'Log in with the device password first.', {
      code: 'unauthorized',
    });
  }

  /** Logs everyone out. */
  clear(): void {
    this.#sessions.clear();
  }

  #sessionExpiry(req: IncomingMessage): number | null {
    const token = parseCookies(req.headers.cookie).get(SESSION_COOKIE);
    return token ? this.#sessions.expiryOf(token) : null;
  }

  /** Refuses (429) when this client has too many recent failures or the box too many recent checks; else counts a check. */
  #throttle(ip: string, perIp: boolean): void {
    const now = this.#o.now();
    const mine = perIp ? this.#failures.check(ip, now) : null;
    if (mine && !mine.allowed) {
      throw new WebError(`Too many wrong passwords. Try again in ${secondsText(mine.retryAt - now)}.`, {
        code: 'rate-limited',
        retryAt: mine.retryAt,
      });
    }
    const all = this.#checks.check('*', now);
    if (!all.allowed) {
      this.#o.logger.warn({ ip }, 'web password checks throttled for everyone');
      throw new WebError(`Too many password attempts on this box. Try again in ${secondsText(all.retryAt - now)}.`, {
        code: 'rate-limited',
        retryAt: all.retryAt,
      });
    }
    this.#checks.hit('*', now);
  }

  async #checkPassword(ip: string, password: string): Promise<void> {
    const passwords = this.#o.passwords;
    if (passwords.state === 'unset') {
      throw new WebError('No device password is set yet. Set one in Settings first.', { code: 'password-not-set' });
    }
    this.#throttle(ip, true);
    if (await passwords.verify(password)) {
      this.#failures.reset(ip);
      return;
    }
    const now = this.#o.now();
    this.#failures.hit(ip, now);
    const next = this.#failures.check(ip, now);
    this.#o.logger.warn({ ip }, 'wrong web password');
    throw new WebError(
      next.allowed
        ? `Wrong password. ${next.remaining} more ${next.remaining === 1 ? 'try' : 'tries'} this minute.`
        : `Wrong password. Too many tries: wait ${secondsText(next.retryAt - now)}.`,
      { code: 'wrong-password', ...(next.allowed ? {} : { retryAt: next.retryAt }) },
    );
  }
}

/** The Set-Cookie value for a session. No `Secure`: the page is plain HTTP on the home network. */
export function sessionCookie(session: Session, ttlMs: number): string {
  return `${SESSION_COOKIE}=${session.token}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${Math.floor(ttlMs / 1000)}`;
}

export const CLEAR_SESSION_COOKIE = `${SESSION_COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`;
