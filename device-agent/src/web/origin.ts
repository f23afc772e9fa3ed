/**
 * Which requests come from the page itself. Pure functions over headers.
 *
 * - Host allow-list (DNS rebinding): a web site on the internet can point its
 *   own name at the box's LAN address and then read the page or set the
 *   first-visit password from the owner's browser. Such requests carry the
 *   attacker's name in `Host`, so only names a home network uses are served:
 *   IP literals, `localhost`, single-label names, `*.local` (mDNS) and the
 *   usual home suffixes, plus any the config adds.
 * - Origin check (CSRF): a state-changing request whose `Origin` is present
 *   must come from the same host it is sent to.
 */
import { isIP } from 'node:net';

const HOME_SUFFIXES = ['.local', '.lan', '.home', '.home.arpa', '.internal', '.localdomain'];

/** The host name of a Host header without its port, lower-case; null if unparsable. */
export function hostnameOf(hostHeader: string): string | null {
  const value = hostHeader.trim().toLowerCase();
  if (value === '') return null;
  if (value.startsWith('[')) {
    const end = value.indexOf(']');
    return end > 0 ? value.slice(1, end) : null;
  }
  const colon = value.indexOf(':');
  const name = colon === -1 ? value : value.slice(0, colon);
  return name.endsWith('.') ? name.slice(0, -1) : name;
}

/**
 * `extra` entries match exactly, or as a suffix when they start with a dot
 * (`.example.com` allows `box.example.com`).
 */
export function isAllowedHost(hostHeader: string | undefined, extra: readonly string[] = []): boolean {
  if (hostHeader === undefined) return false;
  const name = hostnameOf(hostHeader);
  if (name === null || name === '') return false;
  if (isIP(name) !== 0) return true;
  if (name === 'localhost' || !name.includes('.')) return true;
  if (HOME_SUFFIXES.some((suffix) => name.endsWith(suffix))) return true;
  return extra.some((entry) => {
    const e = entry.toLowerCase();
    return e.startsWith('.') ? name.endsWith(e) : name === e;
  });
}

/** True when there is no Origin header (curl, scripts) or it names the same host as `Host`. */
export function isSameOrigin(originHeader: string | undefined, hostHeader: string | undefined): boolean {
  if (originHeader === undefined) return true;
  if (hostHeader === undefined) return false;
  let origin: URL;
  try {
    origin = new URL(originHeader);
  } catch {
    return false; // includes the opaque origin "null"
  }
  if (origin.protocol !== 'http:' && origin.protocol !== 'https:') return false;
  try {
    return new URL(`${origin.protocol}//${hostHeader}`).host === origin.host;
  } catch {
    return false;
  }
}
