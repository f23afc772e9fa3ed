export { Agent, type AgentStatus, type AgentFaults } from './agent.ts';
export { loadAgentConfig, agentConfigSchema, type AgentConfig, type AgentConfigInput } from './config/config.ts';
export { loadOrCreateIdentity, type NodeIdentity } from './identity/identity.ts';
export { backoffDelay, DEFAULT_RECONNECT_BACKOFF, type BackoffPolicy } from './link/backoff.ts';
export { AGENT_VERSION } from './capabilities.ts';
export * from './errors.ts';
