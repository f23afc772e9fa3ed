export { WebError, isWebError, type WebErrorCode, type WebErrorOptions } from './errors.ts';
export type {
  WebActions,
  WebLogEntry,
  WebLogger,
  WebSnapshot,
  WebStatusSource,
  WebUpdateStatus,
} from './types.ts';
export {
  DEFAULT_WEB_LIMITS,
  DEFAULT_WEB_PORT,
  IDENTIFY_MAX_SECONDS,
  LocalWebServer,
  SESSION_COOKIE,
  type LocalWebServerOptions,
  type WebLimits,
} from './server.ts';
export { DEFAULT_MAX_LOGS, WebStatusStore, initialWebSnapshot, type WebStatusStoreOptions } from './status-store.ts';
export {
  DEFAULT_SCRYPT,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  type ScryptParams,
} from './password-store.ts';
export { SlidingWindowLimiter, type LimitDecision, type RateLimit } from './rate-limiter.ts';
export { isAllowedHost, isSameOrigin } from './origin.ts';
export { EVENT_FORMATS, FULL_DIFF_EVERY, realScheduler, type EventFormat, type EventScheduler } from './event-stream.ts';
export { applyJsonPatch, diffJson, type JsonPatchOperation } from './json-patch.ts';
