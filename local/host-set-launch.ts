/** What the start phases of a host set share (`local/host-set.ts` runs them; `host-set-shared.ts` has some). */
import type { HostSet, SentinelLayout } from '../config/host-set-descriptor.ts';
import type { HostPlacement } from './host-programs.ts';

export interface HostSetOptions {
  /** The set's name; its services are `<name>-1` ... unless `serviceNames` names them. */
  name: string;
  services: number;
  serviceNames?: string[];
  /** Default `per-service`, the seed's layout. */
  sentinels?: SentinelLayout;
  /** `auto` (default): namespaces as root where they work, else loopback addresses. */
  network?: 'auto' | 'netns' | 'loopback';
  root?: string;
  downAfterMs?: number;
  failoverTimeoutMs?: number;
  sentinelPeriods?: { infoMs?: number; publishMs?: number };
  slackUsers?: string[];
  progress?: (line: string) => void;
}

/** What every phase of the set shares. */
export interface SetLaunch {
  o: HostSetOptions;
  set: HostSet;
  path: string;
  password: string;
  proxyPemPath: string;
  caCertPath: string;
  clientPemPath: string;
  signingSecretPath: string;
  placements: HostPlacement[];
  take: () => number;
  progress: (line: string) => void;
}
