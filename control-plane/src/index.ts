export { ControlPlane, CONTROL_PLANE_VERSION, type ControlPlaneInfo } from './control-plane.ts';
export { loadControlPlaneConfig, controlPlaneConfigSchema, type ControlPlaneConfig, type ControlPlaneConfigInput } from './config.ts';
export { ApiClient, ApiError } from './cli/api-client.ts';
export { buildManifest, manifestLeaf, stitchOutputs, MANIFEST_LEAF_TYPES, type Manifest, type OutputLine } from './aggregate/manifest.ts';
export * from './errors.ts';
