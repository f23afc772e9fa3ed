import { resolve } from 'node:path';
import { z } from 'zod';
import { releaseVersionSchema, zodSummary } from '@meshchain/protocol';
import { AGENT_VERSION } from '../capabilities.ts';
import { ConfigError } from '../errors.ts';

/** OTA settings of the box, from `MESHNODE_*` variables (the image sets them in the service's environment file). */
export const otaConfigSchema = z.object({
  /** The version this agent is (the release directory's entry point sets it). */
  agentVersion: releaseVersionSchema.default(AGENT_VERSION),
  /** `<root>/releases/<version>`, `<root>/current`: where app updates go; null = not installed as releases (app updates are refused). */
  releaseRoot: z.string().min(1).nullable().default(null),
  /** Release public keys (base64url) this box accepts releases from; empty = every update is refused. */
  trustedKeys: z.array(z.string().length(43, 'a release public key is 43 base64url characters')).default([]),
  /** The hardware/software family releases must be built for. */
  compatibility: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,63}$/, 'not a compatibility string').default('meshnode-arm64'),
  /** A new release that is not healthy (connected, capabilities sent) within this goes back to the previous one. */
  healthDeadlineMs: z.coerce.number().int().positive().default(120_000),
  /** `rauc`: system updates through RAUC; `off`: system updates are refused. */
  systemUpdates: z.enum(['off', 'rauc']).default('off'),
  /**
   * How a system update reboots the box (argv, whitespace-separated in the
   * environment). The image runs the agent unprivileged and points this at a
   * helper that asks a root unit to reboot.
   */
  rebootCommand: z.array(z.string().min(1)).min(1, 'the reboot command is empty').default(['systemctl', 'reboot']),
});
export type OtaConfig = z.infer<typeof otaConfigSchema>;

const ENV: Record<string, keyof OtaConfig> = {
  MESHNODE_AGENT_VERSION: 'agentVersion',
  MESHNODE_RELEASE_ROOT: 'releaseRoot',
  MESHNODE_RELEASE_KEYS: 'trustedKeys',
  MESHNODE_COMPATIBILITY: 'compatibility',
  MESHNODE_OTA_HEALTH_DEADLINE_MS: 'healthDeadlineMs',
  MESHNODE_SYSTEM_UPDATES: 'systemUpdates',
  MESHNODE_REBOOT_COMMAND: 'rebootCommand',
};

/** OTA settings from the environment (`MESHNODE_RELEASE_KEYS` is comma-separated, `MESHNODE_REBOOT_COMMAND` whitespace-separated), validated with a clear message. */
export function loadOtaConfig(env: NodeJS.ProcessEnv, overrides: Partial<OtaConfig> = {}): OtaConfig {
  const raw: Record<string, unknown> = {};
  for (const [name, key] of Object.entries(ENV)) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    if (key === 'trustedKeys') raw[key] = value.split(',').map((k) => k.trim()).filter(Boolean);
    else if (key === 'rebootCommand') raw[key] = value.trim().split(/\s+/).filter(Boolean);
    else raw[key] = value;
  }
  const parsed = otaConfigSchema.safeParse({ ...raw, ...overrides });
  if (!parsed.success) throw new ConfigError('invalid OTA configuration', { details: `${zodSummary(parsed.error)} (MESHNODE_RELEASE_ROOT, MESHNODE_RELEASE_KEYS, MESHNODE_AGENT_VERSION, …)` });
  return { ...parsed.data, releaseRoot: parsed.data.releaseRoot === null ? null : resolve(parsed.data.releaseRoot) };
}
