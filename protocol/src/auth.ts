import { z } from 'zod';
import { PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, verifySignature, type Signer } from './crypto/ed25519.ts';
import { canonicalBytes, fromBase64Url, toBase64Url } from './encoding.ts';
import { AuthTokenError } from './errors.ts';
import { deriveId, roleOfId, type Role } from './ids.ts';

/**
 * Broker credentials: a short-lived token signed by the client's own key.
 * MQTT username = client id = the token's subject; password = the token.
 * Format: base64url(canonical claims) "." base64url(signature), where the
 * signature covers the domain prefix "meshchain/v1/auth\n" and the claims.
 */
const AUTH_DOMAIN = new TextEncoder().encode('meshchain/v1/auth\n');

const claimsSchema = z.object({
  v: z.literal(1),
  sub: z.string().max(64),
  pub: z.string().length(43),
  iat: z.number().int().nonnegative(),
  exp: z.number().int().nonnegative(),
});
export type AuthClaims = z.infer<typeof claimsSchema>;

export const DEFAULT_TOKEN_TTL_MS = 10 * 60_000;

function signedBytes(claims: AuthClaims): Uint8Array {
  const body = canonicalBytes(claims);
  const out = new Uint8Array(AUTH_DOMAIN.length + body.length);
  out.set(AUTH_DOMAIN);
  out.set(body, AUTH_DOMAIN.length);
  return out;
}

export function createAuthToken(signer: Signer, role: Role, options: { now?: number; ttlMs?: number } = {}): string {
  const now = options.now ?? Date.now();
  const claims: AuthClaims = {
    v: 1,
    sub: deriveId(signer.publicKey, role),
    pub: toBase64Url(signer.publicKey),
    iat: now,
    exp: now + (options.ttlMs ?? DEFAULT_TOKEN_TTL_MS),
  };
  return `${toBase64Url(canonicalBytes(claims))}.${toBase64Url(signer.sign(signedBytes(claims)))}`;
}

export interface VerifiedToken {
  id: string;
  role: Role;
  publicKey: Uint8Array;
  expiresAt: number;
}

export interface VerifyTokenOptions {
  now?: number;
  /** Tokens valid for longer than this are refused: a leaked token must die soon. */
  maxTtlMs?: number;
  /** Tolerated clock difference between client and broker. */
  clockSkewMs?: number;
}

export function verifyAuthToken(token: string, options: VerifyTokenOptions = {}): VerifiedToken {
  const now = options.now ?? Date.now();
  const maxTtl = options.maxTtlMs ?? 60 * 60_000;
  const skew = options.clockSkewMs ?? 2 * 60_000;
  const parts = token.split('.');
  if (parts.length !== 2 || token.length > 1024) throw new AuthTokenError('token is not "claims.signature"');
  const [claimsText = '', sigText = ''] = parts;

  let claims: AuthClaims;
  let publicKey: Uint8Array;
  let signature: Uint8Array;
  try {
    const parsed = claimsSchema.safeParse(JSON.parse(Buffer.from(fromBase64Url(claimsText)).toString('utf8')));
    if (!parsed.success) throw new AuthTokenError('token claims have the wrong shape');
    claims = parsed.data;
    publicKey = fromBase64Url(claims.pub, PUBLIC_KEY_LENGTH);
    signature = fromBase64Url(sigText, SIGNATURE_LENGTH);
  } catch (cause) {
    if (cause instanceof AuthTokenError) throw cause;
    throw new AuthTokenError('token is malformed', { cause });
  }

  const role = roleOfId(claims.sub);
  if (!role || deriveId(publicKey, role) !== claims.sub) {
    throw new AuthTokenError(`token subject ${claims.sub} does not match its public key`);
  }
  if (!verifySignature(publicKey, signedBytes(claims), signature)) {
    throw new AuthTokenError(`token for ${claims.sub} has a bad signature`);
  }
  if (claims.exp < now - skew) throw new AuthTokenError(`token for ${claims.sub} expired`);
  if (claims.iat > now + skew) throw new AuthTokenError(`token for ${claims.sub} is issued in the future`);
  if (claims.exp - claims.iat > maxTtl) throw new AuthTokenError(`token for ${claims.sub} lives longer than ${maxTtl} ms`);
  return { id: claims.sub, role, publicKey, expiresAt: claims.exp };
}
