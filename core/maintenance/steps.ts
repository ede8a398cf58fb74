/**
 * Rolling maintenance of a cluster, one node at a time, as steps of a state machine (the module its callers
 * import; each phase lives in its own module beside this one):
 * 1. plan: refuse when paused, unhealthy or leased; record the master and the replicas in order (plan.ts)
 * 2. next: the next replica; then a switchover away from the master; then the old master; then the switchback (plan.ts)
 * 3. act: the allow-listed action on the node (NodeOps `maintenance-action`) (node.ts)
 * 4. wait: until the node is a replica of the master, in sync, and healthy for every Sentinel (node.ts)
 * 5. switchover / switchback: a planned switchover away from the master and back (switch.ts)
 * 6. finish: record and notify; 7. recover (any failure): leave the cluster writable, record what was and was
 *    not done (finish.ts)
 */

export { MAINTENANCE_TIMING } from './context.ts';
export { drainTarget, onHost } from './drain.ts';
export { finishMaintenance, progressOf, recoverMaintenance } from './finish.ts';
export { nodeBackProblems } from './health.ts';
export { actOnNode, waitUntilNodeBack } from './node.ts';
export { nextMaintenanceStep, planMaintenance } from './plan.ts';
export { switchbackForMaintenance, switchoverForMaintenance } from './switch.ts';
