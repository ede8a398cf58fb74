/** Default bound on how far a replica may trail the master before the cluster counts as unhealthy. */
export const DEFAULT_MAX_LAG_BYTES = 1024 * 1024;
