/**
 * The test helpers under their old address, for the test files not yet repointed: every name is re-exported
 * from its own module (test/support for fixtures, samples and the test world; test/fakes for the port fakes).
 * New code imports from those modules.
 */
export { FakeClock } from '../fakes/clock.ts';
export { type FakeNodeState, FakeRedisNodes } from '../fakes/redis.ts';
export { FakeNotifier, RecordingLogger, silentLogger } from '../fakes/reporting.ts';
export { FakeDns, FakeNodeOps, FakeRouter } from '../fakes/routing.ts';
export { FakeSentinelView, type ViewSpec } from '../fakes/sentinels.ts';
export { InMemoryStateStore } from '../fakes/state-store.ts';
export { endpointOf, N1, N2, N3, SENTINELS, START, testCluster } from '../support/fixtures.ts';
export { loadEnvelope, loadEvent, loadSample, SAMPLE_CASES, snsEventWith } from '../support/samples.ts';
export {
  type FakeWorld,
  failedOverWorld,
  rejectingSentinelEventHandler,
  untouchableDeps,
} from '../support/world.ts';
