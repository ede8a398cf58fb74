/** The confirmation tests' Sentinel answers (one Sentinel's view, or its silence) and applied epochs. */

import type { SentinelAnswer } from '../../../core/failover/confirm.ts';
import type { Endpoint } from '../../../core/model/cluster.ts';
import type { AppliedEpoch } from '../../../core/model/records.ts';
import { SENTINELS, START } from '../../support/fixtures.ts';

export const [S1, S2, S3] = SENTINELS as [Endpoint, Endpoint, Endpoint];

export const answer = (
  sentinel: Endpoint,
  master: Endpoint,
  epoch: number,
  more: { failoverState?: string; flags?: string[] } = {},
): SentinelAnswer => ({
  ok: true,
  view: {
    sentinel,
    master,
    configEpoch: epoch,
    flags: more.flags ?? ['master'],
    failoverState: more.failoverState ?? 'none',
    numOtherSentinels: 2,
    quorum: 2,
  },
});
export const silent = (sentinel: Endpoint): SentinelAnswer => ({ ok: false, sentinel, error: 'timed out' });

export const applied = (master: Endpoint, epoch: number): AppliedEpoch => ({
  epoch,
  master,
  status: 'done',
  token: 't',
  leaseUntil: START,
});
