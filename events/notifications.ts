import { z } from 'zod';
import { EndpointSchema } from '../core/model/cluster.ts';
import { issuesText } from '../core/model/errors.ts';

/**
 * What arrives on the notification topic, as the SNS Message:
 * - a Notification (adapters/aws/sns-notifier.ts publishes `JSON.stringify(notification)`), or
 * - a CloudWatch alarm state change (the stack's alarm actions publish to the same topic).
 * Kinds and outcomes are read as strings, and unknown fields are dropped, so that a newer publisher (a new
 * kind, an extra field) still gets its message delivered rather than rejected.
 */

const TimelineStepSchema = z.object({
  step: z.string(),
  at: z.number(),
  durationMs: z.number(),
  status: z.string(),
  detail: z.string().optional(),
});

const HistoryEntrySchema = z.object({
  id: z.string(),
  cluster: z.string(),
  kind: z.string(),
  epoch: z.number().nullable(),
  oldMaster: EndpointSchema.nullable(),
  newMaster: EndpointSchema.nullable(),
  outcome: z.string(),
  trigger: z.string(),
  startedAt: z.number(),
  durationMs: z.number(),
  timeline: z.array(TimelineStepSchema),
  bytesAtRisk: z.number().nullable(),
  writeGapMs: z.number().optional(),
  error: z.string().optional(),
});

export const NotificationMessageSchema = z.object({
  cluster: z.string().min(1),
  kind: z.string().min(1),
  outcome: z.string().min(1),
  summary: z.string(),
  entry: HistoryEntrySchema.optional(),
});
/** A Notification (core/ports.ts) as read back from the topic; every Notification is one. */
export type NotificationMessage = z.infer<typeof NotificationMessageSchema>;

/** The fields of CloudWatch's alarm JSON that the message shows; `AlarmDescription` is null when unset. */
export const CloudWatchAlarmSchema = z.object({
  AlarmName: z.string().min(1),
  AlarmDescription: z.string().nullish(),
  NewStateValue: z.string().min(1),
  NewStateReason: z.string(),
  OldStateValue: z.string().optional(),
  StateChangeTime: z.string().optional(),
  Region: z.string().optional(),
  AlarmArn: z.string().optional(),
});
export type CloudWatchAlarm = z.infer<typeof CloudWatchAlarmSchema>;

export type NotifyMessage =
  | { type: 'notification'; notification: NotificationMessage }
  | { type: 'alarm'; alarm: CloudWatchAlarm };

/** One SNS Message from the notification topic, or why it is neither a Notification nor an alarm. */
export function parseNotifyMessage(
  message: unknown,
): { ok: true; message: NotifyMessage } | { ok: false; reason: string } {
  if (typeof message !== 'string') return { ok: false, reason: 'the SNS record has no Message string' };
  let json: unknown;
  try {
    json = JSON.parse(message);
  } catch (error) {
    return { ok: false, reason: `the SNS Message is not JSON (${(error as Error).message})` };
  }
  if (typeof json === 'object' && json !== null && 'AlarmName' in json) {
    const alarm = CloudWatchAlarmSchema.safeParse(json);
    return alarm.success
      ? { ok: true, message: { type: 'alarm', alarm: alarm.data } }
      : {
          ok: false,
          reason: `the SNS Message is not a CloudWatch alarm: ${issuesText(alarm.error, '(root)')}`,
        };
  }
  const notification = NotificationMessageSchema.safeParse(json);
  return notification.success
    ? { ok: true, message: { type: 'notification', notification: notification.data } }
    : {
        ok: false,
        reason: `the SNS Message is not a notification: ${issuesText(notification.error, '(root)')}`,
      };
}
