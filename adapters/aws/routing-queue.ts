import type { SQSClient } from '@aws-sdk/client-sqs';
import { z } from 'zod';
import { EndpointSchema, formatEndpoint, ProxySchema } from '../../core/model/cluster.ts';
import { NodeOpsError } from '../../core/model/errors.ts';
import type { Clock, NodeOperation, NodeOperationResult, NodeOps } from '../../core/ports.ts';
import { sendFifo } from './fifo-send.ts';

/**
 * One proxy's routing to persist on its host (update-haproxy), as the reactions hand it to the routing-persist
 * Lambda through the FIFO queue. The proxy's config travels with it (no secret is in it), so the consumer needs
 * no cluster lookup, and a proxy removed from the config since is still persisted as it was routed.
 */
export const RoutingPersistMessageSchema = z.strictObject({
  contract: z.literal('routing-persist'),
  version: z.literal(1),
  proxy: ProxySchema,
  master: EndpointSchema,
  epoch: z.number().int().nonnegative(),
  queuedAt: z.number().int().nonnegative(),
});
export type RoutingPersistMessage = z.infer<typeof RoutingPersistMessageSchema>;

/**
 * One service's routing on one host: the proxy and its backend. A host set's HAProxy serves every service of the
 * set under one proxy id, a backend each, and their epochs are unrelated.
 */
export const routingKeyOf = (proxy: { id: string; backend: string }): string =>
  `${proxy.id}/${proxy.backend}`;

/** The message group of a proxy's host: its commands run one at a time, in order. */
export const routingGroupOf = (proxy: { host: string }): string => `proxy-host:${proxy.host}`;

export interface QueuedRoutingOptions {
  client: SQSClient;
  /** The FIFO queue the routing-persist Lambda consumes. */
  queueUrl: string;
  /** Every other operation (fences, releases, maintenance) runs at once, waited for. */
  direct: NodeOps;
  clock: Clock;
}

/**
 * NodeOps whose `update-haproxy` is queued, off the failover path: the HAProxy is already routed through its
 * Runtime API, and persisting it (an SSM command, ~1 s a host, throttled at fleet scale) is what survives a
 * restart. Waiting for 330 of those at once held every reaction's Lambda, throttled SSM and failed the epochs
 * (the fleet simulation: README, "Running many clusters"). The host's script still refuses an older epoch.
 */
export class QueuedRoutingNodeOps implements NodeOps {
  private readonly options: QueuedRoutingOptions;

  constructor(options: QueuedRoutingOptions) {
    this.options = options;
  }

  async run(operation: NodeOperation, options: { deadlineAt?: number } = {}): Promise<NodeOperationResult> {
    if (operation.document !== 'update-haproxy') return this.options.direct.run(operation, options);
    const { proxy, master, epoch } = operation;
    const message: RoutingPersistMessage = {
      contract: 'routing-persist',
      version: 1,
      proxy,
      master: { host: master.host, port: master.port },
      epoch,
      queuedAt: this.options.clock.now(),
    };
    await sendFifo(
      this.options.client,
      this.options.queueUrl,
      {
        body: message,
        group: routingGroupOf(proxy),
        identity: `${proxy.host}\n${routingKeyOf(proxy)}\n${epoch}\n${formatEndpoint(master)}`,
      },
      { what: `update-haproxy for proxy ${proxy.id} (${proxy.host}, epoch ${epoch})`, error: NodeOpsError },
      this.options.clock,
    );
    return { output: 'queued', queued: true };
  }
}
