/** Fakes of the ports that move traffic and run host operations: Router (HAProxy), Dns, NodeOps. */
import {
  type ClusterConfig,
  type Endpoint,
  type ProxyConfig,
  sameEndpoint,
} from '../../core/model/cluster.ts';
import { NodeOpsError, UnreachableError } from '../../core/model/errors.ts';
import type { Dns, NodeOperation, NodeOperationResult, NodeOps, Router } from '../../core/ports.ts';

/** HAProxy fake: records every reroute; a proxy can be told to fail. */
export class FakeRouter implements Router {
  readonly routes = new Map<string, Endpoint>();
  readonly calls: { proxy: string; node: Endpoint }[] = [];
  /** Proxy id -> how many more attempts fail (Infinity: all), refused by a proxy that answers. */
  readonly failures = new Map<string, number>();
  /** Proxies that do not answer at all (their host is gone), as the adapter's UnreachableError says. */
  readonly unreachable = new Set<string>();

  async pointMasterAt(proxy: ProxyConfig, node: Endpoint): Promise<void> {
    this.calls.push({ proxy: proxy.id, node });
    if (this.unreachable.has(proxy.id)) throw new UnreachableError(`Runtime API of ${proxy.id} timed out`);
    const left = this.failures.get(proxy.id) ?? 0;
    if (left > 0) {
      this.failures.set(proxy.id, left - 1);
      throw new Error(`proxy ${proxy.id}: connection refused`);
    }
    this.routes.set(proxy.id, node);
    // Like the Runtime API adapter, a reroute ends with `set server ... state ready`.
    this.blocked.delete(proxy.id);
  }

  /** Proxies whose master server is in maint (writes through them stop). */
  readonly blocked = new Set<string>();
  readonly blockCalls: string[] = [];

  async blockMaster(proxy: ProxyConfig): Promise<void> {
    this.blockCalls.push(proxy.id);
    this.blocked.add(proxy.id);
  }

  async masterRoute(proxy: ProxyConfig): Promise<{ address: Endpoint; state: string }> {
    if (this.unreachable.has(proxy.id)) throw new UnreachableError(`Runtime API of ${proxy.id} timed out`);
    const address = this.routes.get(proxy.id);
    if (!address) throw new Error(`proxy ${proxy.id} has no route`);
    return { address, state: this.blocked.has(proxy.id) ? 'maint' : 'ready' };
  }
}

/** DNS fake guarded by epoch, like the real adapters. */
export class FakeDns implements Dns {
  record: { master: Endpoint; epoch: number } | undefined;
  readonly calls: { master: Endpoint; epoch: number }[] = [];

  async upsertMaster(
    _cluster: ClusterConfig,
    master: Endpoint,
    epoch: number,
  ): Promise<'updated' | 'unchanged' | 'stale'> {
    this.calls.push({ master, epoch });
    if (this.record && this.record.epoch > epoch) return 'stale';
    if (this.record && this.record.epoch === epoch && sameEndpoint(this.record.master, master))
      return 'unchanged';
    this.record = { master, epoch };
    return 'updated';
  }

  async currentMaster(): Promise<{ master: Endpoint; epoch: number } | undefined> {
    return this.record;
  }
}

export class FakeNodeOps implements NodeOps {
  readonly runs: NodeOperation[] = [];
  /** Document name -> the error its runs fail with (the run is still recorded); a document not listed succeeds. */
  readonly failures = new Map<NodeOperation['document'], Error>();
  /** Documents whose runs the host refuses for their epoch, as a newer epoch's command ran there first. */
  readonly stale = new Set<NodeOperation['document']>();
  /** Proxy or node ids whose host never answers: their commands fail at the deadline, as SSM's stay Pending. */
  readonly unreachable = new Set<string>();
  /** The `deadlineAt` each run was given, index for index with `runs`. */
  readonly deadlines: (number | undefined)[] = [];
  async run(operation: NodeOperation, options: { deadlineAt?: number } = {}): Promise<NodeOperationResult> {
    this.runs.push(operation);
    this.deadlines.push(options.deadlineAt);
    const subject = operation.document === 'update-haproxy' ? operation.proxy.id : operation.node.id;
    if (this.unreachable.has(subject))
      throw new NodeOpsError(`${operation.document} on ${subject} did not finish (last status: Pending)`);
    const failure = this.failures.get(operation.document);
    if (failure) throw failure;
    if (this.stale.has(operation.document)) return { output: `stale: ${operation.document}`, stale: true };
    return { output: `${operation.document} ok` };
  }
}
