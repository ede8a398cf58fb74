import { Route53Client } from '@aws-sdk/client-route-53';
import { ROUTE53_WRITER_RETRY, Route53Dns } from '../adapters/aws/route53-dns.ts';
import type { Logger } from '../core/ports.ts';
import type { DnsWriterDeps } from '../functions/dns-writer/handler.ts';
import { awsDeps } from './aws.ts';
import { systemClock } from './clock.ts';

/** Route53 for the container: the batch is already gathered (one SQS batch), so no window to wait. */
let route53: Route53Dns | undefined;

/** The dns-writer's composition root: the clusters from the deployment config, and Route53 itself. */
export async function dnsWriterDeps(logger: Logger): Promise<DnsWriterDeps> {
  const { clusters, failover } = await awsDeps(logger);
  route53 ??= new Route53Dns({
    client: new Route53Client({}),
    clock: systemClock,
    batchWindowMs: 0,
    retry: ROUTE53_WRITER_RETRY,
    readBeforeWrite: false,
  });
  return { clusters, dns: route53, epochs: failover.state, clock: systemClock, logger };
}
