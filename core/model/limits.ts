/** Default bound on how far a replica may trail the master before the cluster counts as unhealthy. */
export const DEFAULT_MAX_LAG_BYTES = 1024 * 1024;
/** How many leader votes a read returns at most, the newest first: 3 to 5 Sentinels vote in each epoch. */
export const LEADER_VOTES_READ_LIMIT = 30;
