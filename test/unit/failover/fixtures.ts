/** The failover tests' trigger: the +switch-master from n1, seen 800 ms before the test's start. */

import type { FailoverTrigger } from '../../../core/failover/react.ts';
import { N1, START } from '../../support/fixtures.ts';

export const SEEN = START - 800;
export const switchMaster: FailoverTrigger = { type: '+switch-master', seenAt: SEEN, oldMaster: N1 };
