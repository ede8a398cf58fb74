import { isIPv4 } from 'node:net';
import {
  type Change,
  ChangeResourceRecordSetsCommand,
  GetChangeCommand,
  ListResourceRecordSetsCommand,
  type Route53Client,
} from '@aws-sdk/client-route-53';
import { type ClusterConfig, type Endpoint, formatEndpoint, sameEndpoint } from '../../core/model/cluster.ts';
import { AwsServiceError, ConfigurationError } from '../../core/model/errors.ts';
import type { Clock, Dns } from '../../core/ports.ts';
import {
  awsErrorName,
  Backoff,
  describeAwsError,
  isThrottling,
  type RetryPace,
  type RetryPolicy,
} from './retry.ts';

/** Route53 takes about 10 requests/s per account (a bucket of 50; 5/s before 2026); after that it throttles, so back off past a second. */
export const ROUTE53_RETRY: RetryPolicy = { maxAttempts: 5, baseMs: 200, capMs: 3000 };
/**
 * The zone's one writer (dns-writer) waits longer: nobody else writes the zone, so a refusal is Route53 still
 * applying its own previous change, or the account's rate; ~10 s at most, inside its 15-s timeout.
 */
export const ROUTE53_WRITER_RETRY: RetryPolicy = {
  maxAttempts: 60,
  baseMs: 250,
  capMs: 2000,
  patienceMs: 10_000,
};
/**
 * `PriorRequestNotComplete` is the zone's own state (its previous change is still being applied), not the
 * account's rate: it clears by itself, and asking again costs one request of the account's 10/s. So it is asked
 * again every 50-400 ms (full jitter, capped low), not after the doubling pauses throttling gets: in the fleet
 * simulation those left ~0.7 s idle after each zone-busy window, 18 windows at 500 clusters.
 */
export const ZONE_BUSY_PACE: RetryPace = { baseMs: 100, capMs: 400 };
/** How long a policy keeps retrying, in words: its patience, or else its attempts. */
const retriedFor = (policy: RetryPolicy): string =>
  policy.patienceMs === undefined ? `${policy.maxAttempts} attempts` : `${policy.patienceMs / 1000} s`;
/** A change reaches every Route53 server within about a minute; ask every few seconds. */
const INSYNC_POLLING = { firstMs: 1000, maxMs: 5000 };
const DEFAULT_BATCH_WINDOW_MS = 50;
const DEFAULT_INSYNC_DEADLINE_MS = 120_000;
const COMMENT_MAX = 256;
/** Route53 answers these while the previous change of the zone is still being applied, or to slow down. */
const RETRYABLE = (error: unknown): boolean =>
  isThrottling(error) || awsErrorName(error) === 'PriorRequestNotComplete';
const NOT_ALLOWED = new Set(['AccessDenied', 'AccessDeniedException', 'NotAuthorizedException']);

/** The master record's TXT value, quotes included: `"ha-redis epoch=12 master=10.0.1.11:6379"`. */
export const masterRecordText = (master: Endpoint, epoch: number): string =>
  `"ha-redis epoch=${epoch} master=${formatEndpoint(master)}"`;

const TXT_PATTERN = /^"?ha-redis epoch=(\d+) master=(\S+):(\d+)"?$/;

/** The epoch and master of a TXT value written by `masterRecordText`, or undefined for any other text. */
export function parseMasterRecordText(value: string): { epoch: number; master: Endpoint } | undefined {
  const match = TXT_PATTERN.exec(value.trim());
  if (!match?.[1] || !match[2] || !match[3]) return undefined;
  return { epoch: Number(match[1]), master: { host: match[2], port: Number(match[3]) } };
}

/**
 * The hosted zone of the cluster's master record, once the upsert is known to be writable there: the cluster
 * names a zone, and the master is an IPv4 address (an A record needs one).
 */
export function hostedZoneFor(cluster: ClusterConfig, master: Endpoint): string {
  const zone = cluster.dns.hostedZoneId;
  if (!zone) {
    throw new ConfigurationError(
      `cluster ${cluster.name} has no dns.hostedZoneId, so its Route53 record cannot be written; set it`,
    );
  }
  if (!isIPv4(master.host)) {
    throw new ConfigurationError(
      `cluster ${cluster.name}: master host ${master.host} is not an IPv4 address, which an A record needs; address nodes by IP`,
    );
  }
  return zone;
}

/** Route53 returns names lower-cased with a trailing dot. */
const normalName = (name: string): string => name.toLowerCase().replace(/\.$/, '');

export interface Route53DnsOptions {
  client: Route53Client;
  clock: Clock;
  /** Jitter of retried calls; Math.random by default. */
  random?: () => number;
  /** Upserts for one hosted zone that arrive within this window go out as one change; 50 ms by default. */
  batchWindowMs?: number;
  /** Wait until Route53 reports the change INSYNC before answering; false by default. */
  waitForInsync?: boolean;
  /** How long to wait for INSYNC; 120 s by default. */
  insyncDeadlineMs?: number;
  /** Retries of a throttled or refused call; ROUTE53_RETRY by default. */
  retry?: RetryPolicy;
  /**
   * Read each record's TXT before writing it, and refuse an older epoch than it holds; true by default. Only the
   * zone's one writer turns it off: it refuses an older epoch than the cluster's last claimed one (the state
   * store) instead, and a read per record would cost more of Route53's 10 requests a second than the writes.
   */
  readBeforeWrite?: boolean;
}

type Result = 'updated' | 'unchanged' | 'stale';

interface Upsert {
  cluster: ClusterConfig;
  master: Endpoint;
  epoch: number;
  resolve: (result: Result) => void;
  reject: (error: unknown) => void;
}

/**
 * The cluster's master record in Route53: an A record (the master's address) and a TXT record beside it
 * that carries the epoch and `host:port`, so that an older epoch never overwrites a newer one.
 */
export class Route53Dns implements Dns {
  private readonly client: Route53Client;
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly batchWindowMs: number;
  private readonly waitForInsync: boolean;
  private readonly insyncDeadlineMs: number;
  private readonly retry: RetryPolicy;
  private readonly readBeforeWrite: boolean;
  /** Upserts waiting for their zone's batch to go out, by hosted zone. */
  private readonly batches = new Map<string, Upsert[]>();

  constructor(options: Route53DnsOptions) {
    this.client = options.client;
    this.clock = options.clock;
    this.backoff = new Backoff(options.clock, options.random);
    this.batchWindowMs = options.batchWindowMs ?? DEFAULT_BATCH_WINDOW_MS;
    this.waitForInsync = options.waitForInsync ?? false;
    this.insyncDeadlineMs = options.insyncDeadlineMs ?? DEFAULT_INSYNC_DEADLINE_MS;
    this.retry = options.retry ?? ROUTE53_RETRY;
    this.readBeforeWrite = options.readBeforeWrite ?? true;
  }

  /**
   * Joins the zone's batch; the first upsert of a batch waits the window, then sends it. Each caller gets
   * the result it would have had alone, in arrival order.
   */
  async upsertMaster(cluster: ClusterConfig, master: Endpoint, epoch: number): Promise<Result> {
    const zone = hostedZoneFor(cluster, master);
    const { promise, resolve, reject } = Promise.withResolvers<Result>();
    const upsert: Upsert = { cluster, master, epoch, resolve, reject };
    const waiting = this.batches.get(zone);
    if (waiting) {
      waiting.push(upsert);
      return promise;
    }
    this.batches.set(zone, [upsert]);
    await this.clock.sleep(this.batchWindowMs);
    const batch = this.batches.get(zone) ?? [upsert];
    this.batches.delete(zone);
    // send settles every upsert itself; this only guards against a caller left waiting forever.
    await this.send(zone, batch).catch((error: unknown) => {
      for (const u of batch) u.reject(error);
    });
    return promise;
  }

  /**
   * Decides every upsert of the batch against the record it reads, sends the writes as one change, and
   * settles each upsert. Never throws: a failure rejects the upserts it concerns.
   */
  private async send(zone: string, batch: Upsert[]): Promise<void> {
    const byRecord = Map.groupBy(batch, (u) => normalName(u.cluster.dns.recordName));
    const changes: Change[] = [];
    const written: Upsert[] = [];
    /** Upserts whose answer holds only once the batch's change is accepted. */
    const afterWrite: { upsert: Upsert; result: Result }[] = [];
    await Promise.all(
      [...byRecord.values()].map(async (upserts) => {
        const first = upserts[0] as Upsert;
        let stored: { epoch: number; master: Endpoint } | undefined;
        try {
          stored = this.readBeforeWrite ? await this.readRecord(zone, first.cluster) : undefined;
        } catch (error) {
          for (const u of upserts) u.reject(error);
          return;
        }
        let current = stored;
        let writer: Upsert | undefined;
        for (const upsert of upserts) {
          const result = decide(current, upsert);
          if (result === 'updated') {
            current = upsert;
            writer = upsert;
          }
          // Stale against the stored record stays stale whatever becomes of the write.
          if (writer && decide(stored, upsert) !== 'stale') afterWrite.push({ upsert, result });
          else upsert.resolve(result);
        }
        if (writer) {
          changes.push(...recordChanges(writer));
          written.push(writer);
        }
      }),
    );
    if (changes.length === 0) return;
    try {
      await this.change(zone, changes, written);
      for (const { upsert, result } of afterWrite) upsert.resolve(result);
    } catch (error) {
      for (const { upsert } of afterWrite) upsert.reject(error);
    }
  }

  async currentMaster(cluster: ClusterConfig): Promise<{ master: Endpoint; epoch: number } | undefined> {
    const zone = cluster.dns.hostedZoneId;
    if (!zone) throw new ConfigurationError(`cluster ${cluster.name} has no dns.hostedZoneId`);
    return this.readRecord(zone, cluster);
  }

  /** The epoch and master of the record's TXT value, or undefined when there is no TXT record yet. */
  private async readRecord(
    zone: string,
    cluster: ClusterConfig,
  ): Promise<{ epoch: number; master: Endpoint } | undefined> {
    const name = cluster.dns.recordName;
    const what = `read TXT ${name} in hosted zone ${zone} (cluster ${cluster.name})`;
    const { ResourceRecordSets = [] } = await this.call(what, () =>
      this.client.send(
        new ListResourceRecordSetsCommand({
          HostedZoneId: zone,
          StartRecordName: name,
          StartRecordType: 'TXT',
          MaxItems: 1,
        }),
      ),
    );
    // The list starts at the name and type; when there is no such record, it is the next one.
    const set = ResourceRecordSets[0];
    if (set?.Type !== 'TXT' || normalName(set.Name ?? '') !== normalName(name)) return undefined;
    const values = (set.ResourceRecords ?? []).map((r) => r.Value ?? '');
    const parsed = values.map(parseMasterRecordText).find((v) => v !== undefined);
    if (!parsed) {
      throw new ConfigurationError(
        `TXT ${name} in hosted zone ${zone} (cluster ${cluster.name}) was not written by ha-redis (${values.join(' ').slice(0, 100)}); delete it or choose another dns.recordName`,
      );
    }
    return parsed;
  }

  /** One ChangeResourceRecordSets with every write of the batch, then INSYNC when asked to wait. */
  private async change(zone: string, changes: Change[], written: Upsert[]): Promise<void> {
    const summary = written.map((u) => `${u.cluster.name} epoch ${u.epoch}`).join(', ');
    const what = `write ${written.map((u) => u.cluster.dns.recordName).join(', ')} in hosted zone ${zone} (${summary})`;
    const { ChangeInfo } = await this.call(what, () =>
      this.client.send(
        new ChangeResourceRecordSetsCommand({
          HostedZoneId: zone,
          ChangeBatch: { Comment: `ha-redis: ${summary}`.slice(0, COMMENT_MAX), Changes: changes },
        }),
      ),
    );
    if (!this.waitForInsync || ChangeInfo?.Status === 'INSYNC' || !ChangeInfo?.Id) return;
    const changeId = ChangeInfo.Id;
    const insync = await this.backoff
      .poll(
        async () => {
          const { ChangeInfo: info } = await this.client.send(new GetChangeCommand({ Id: changeId }));
          return info?.Status === 'INSYNC' ? true : undefined;
        },
        INSYNC_POLLING,
        this.backoff.deadlineIn(this.insyncDeadlineMs),
      )
      .catch((error: unknown) => {
        throw new AwsServiceError(
          `could not follow change ${changeId} (${what}): ${describeAwsError(error)}`,
          {
            cause: error,
          },
        );
      });
    if (!insync) {
      throw new AwsServiceError(
        `change ${changeId} (${what}) is still PENDING after ${this.insyncDeadlineMs / 1000} s; Route53 accepted it and will apply it: check GetChange ${changeId}`,
      );
    }
  }

  /** A Route53 call, retried while throttled or while the zone's previous change is being applied. */
  private async call<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await this.backoff.retry(send, this.retry, RETRYABLE, (error) =>
        awsErrorName(error) === 'PriorRequestNotComplete' ? ZONE_BUSY_PACE : this.retry,
      );
    } catch (error) {
      const name = awsErrorName(error);
      if (name === 'NoSuchHostedZone') {
        throw new ConfigurationError(
          `could not ${what}: the hosted zone does not exist, or this role cannot see it; fix dns.hostedZoneId`,
          { cause: error },
        );
      }
      if (NOT_ALLOWED.has(name)) {
        throw new ConfigurationError(
          `could not ${what}: ${describeAwsError(error)}; grant route53:ListResourceRecordSets, route53:ChangeResourceRecordSets and route53:GetChange on the zone`,
          { cause: error },
        );
      }
      const reason = RETRYABLE(error)
        ? `Route53 still refused after ${retriedFor(this.retry)} (${name}); retry later`
        : `${describeAwsError(error)}; check that the record name lies in the zone and no CNAME stands at it`;
      throw new AwsServiceError(`could not ${what}: ${reason}`, { cause: error });
    }
  }
}

/** What one upsert does to the record as it stands (or as an earlier upsert of the batch left it). */
function decide(current: { epoch: number; master: Endpoint } | undefined, upsert: Upsert): Result {
  if (current && current.epoch > upsert.epoch) return 'stale';
  if (current && current.epoch === upsert.epoch && sameEndpoint(current.master, upsert.master))
    return 'unchanged';
  return 'updated';
}

/** The A record (the master's address) and the TXT record (epoch and host:port) of one upsert. */
function recordChanges({ cluster, master, epoch }: Upsert): Change[] {
  const common = { Name: cluster.dns.recordName, TTL: cluster.dns.ttl };
  return [
    {
      Action: 'UPSERT',
      ResourceRecordSet: { ...common, Type: 'A', ResourceRecords: [{ Value: master.host }] },
    },
    {
      Action: 'UPSERT',
      ResourceRecordSet: {
        ...common,
        Type: 'TXT',
        ResourceRecords: [{ Value: masterRecordText(master, epoch) }],
      },
    },
  ];
}
