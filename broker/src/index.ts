export { MeshBroker, type BrokerOptions, type BrokerStats } from './broker.ts';
export { canPublish, canSubscribe, canSetWill, type Identity, type Decision } from './acl.ts';
export { authenticateClient, CONNACK, type AuthPolicy, type AuthOutcome } from './authenticate.ts';
export { PacketSizeGuard, PacketSizeScanner, PacketTooLargeError } from './packet-guard.ts';
