import { type CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import type { MetricDatum, MetricSink } from '../../events/bridge/heartbeat.ts';

/** Puts a bridge's metric datums into CloudWatch, one PutMetricData request per call, each a count. */
export class CloudWatchMetricSink implements MetricSink {
  private readonly client: CloudWatchClient;
  private readonly namespace: string;
  constructor(client: CloudWatchClient, namespace: string) {
    this.client = client;
    this.namespace = namespace;
  }

  async put(datums: readonly MetricDatum[]): Promise<void> {
    await this.client.send(
      new PutMetricDataCommand({
        Namespace: this.namespace,
        MetricData: datums.map((d) => ({
          MetricName: d.name,
          Dimensions: Object.entries(d.dimensions).map(([Name, Value]) => ({ Name, Value })),
          Timestamp: d.timestamp,
          Value: d.value,
          Unit: 'Count',
        })),
      }),
    );
  }
}
