import { verifyAuthToken, AuthTokenError, type VerifyTokenOptions } from '@meshchain/protocol';
import type { Identity } from './acl.ts';

/** MQTT 3.1.1 CONNACK return codes used for refusals. */
export const CONNACK = {
  identifierRejected: 2,
  badCredentials: 4,
  notAuthorized: 5,
} as const;

export type AuthOutcome =
  | { ok: true; identity: Identity }
  | { ok: false; code: (typeof CONNACK)[keyof typeof CONNACK]; reason: string };

export interface AuthPolicy extends VerifyTokenOptions {
  /** Control planes allowed to connect with full access. */
  trustedControlPlanes: ReadonlySet<string>;
  /** `open`: any node with a valid self-signed token; `allowlist`: only nodes `isNodeAllowed` accepts. */
  enrollment: 'open' | 'allowlist';
  isNodeAllowed?: (nodeId: string) => boolean | Promise<boolean>;
}

/**
 * Decides a CONNECT: username = client id = the token's subject, and the
 * token must be signed by the key the subject id is derived from.
 */
export async function authenticateClient(
  clientId: string,
  username: string | undefined,
  password: Uint8Array | undefined,
  policy: AuthPolicy,
): Promise<AuthOutcome> {
  if (!username || !password || password.length === 0) {
    return { ok: false, code: CONNACK.notAuthorized, reason: 'anonymous connections are not allowed' };
  }
  let token;
  try {
    token = verifyAuthToken(Buffer.from(password).toString('utf8'), policy);
  } catch (error) {
    const reason = error instanceof AuthTokenError ? error.shortMessage : 'token could not be verified';
    return { ok: false, code: CONNACK.badCredentials, reason };
  }
  if (token.id !== username) {
    return { ok: false, code: CONNACK.badCredentials, reason: `username ${username} is not the token's subject ${token.id}` };
  }
  if (clientId !== username) {
    return { ok: false, code: CONNACK.identifierRejected, reason: `client id ${clientId} must equal username ${username}` };
  }
  if (token.role === 'cp') {
    if (!policy.trustedControlPlanes.has(token.id)) {
      return { ok: false, code: CONNACK.notAuthorized, reason: `${token.id} is not a trusted control plane` };
    }
    return { ok: true, identity: { id: token.id, role: 'cp' } };
  }
  if (policy.enrollment === 'allowlist' && !(await policy.isNodeAllowed?.(token.id))) {
    return { ok: false, code: CONNACK.notAuthorized, reason: `${token.id} is not on this fleet's allow-list` };
  }
  return { ok: true, identity: { id: token.id, role: 'node' } };
}
