// The checksum engine: what a pod template consumes, the digests of it, and the
// stamp written from them. Pure, and shared by the webhook, the controller and
// `status`, so all three always compute the same value.
export * from './annotation-limits.ts';
export * from './annotations.ts';
export * from './consumed-source.ts';
export * from './digest.ts';
export * from './keyring.ts';
export * from './reload.ts';
export * from './sources.ts';
export * from './stamp.ts';
export * from './workload-kinds.ts';
export * from './reloader.ts';
