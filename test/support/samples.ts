/** Event samples for tests (Powertools' getTestEvent pattern: read once, hand out a structured clone per test). */
import { readFileSync } from 'node:fs';
import type { SNSEvent } from 'aws-lambda';
import { parseSentinelMessage, type SentinelEvent } from '../../core/failover/sentinel-event.ts';
import type { SentinelEnvelope } from '../../events/sentinel-events.ts';

const SAMPLES = new URL('../../events/samples/', import.meta.url);
const sampleCache = new Map<string, unknown>();

/** A sample under events/samples, e.g. `sentinel/switch-master`; every call returns a fresh clone. */
export function loadSample<T = unknown>(name: string): T {
  let data = sampleCache.get(name);
  if (data === undefined) {
    data = JSON.parse(readFileSync(new URL(`${name}.json`, SAMPLES), 'utf8'));
    sampleCache.set(name, data);
  }
  return structuredClone(data) as T;
}

/** A sentinel-event envelope sample by case name, e.g. `switch-master`. */
export const loadEnvelope = (name: string): SentinelEnvelope =>
  loadSample<SentinelEnvelope>(`sentinel/${name}`);

/** The typed event of a sentinel sample; fails the test when the sample does not parse. */
export function loadEvent(name: string): SentinelEvent {
  const envelope = loadEnvelope(name);
  const parsed = parseSentinelMessage(envelope.channel, envelope.payload);
  if (!parsed.ok) throw new Error(`sample ${name} does not parse: ${parsed.message}`);
  return parsed.event;
}

/** An SNS Lambda event carrying `message` as the Message of its single record (from the SNS sample). */
export function snsEventWith(message: unknown): SNSEvent {
  const event = loadSample<SNSEvent>('sns/switch-master');
  const record = event.Records[0];
  if (!record) throw new Error('the SNS sample has no record');
  (record.Sns as { Message: unknown }).Message = message;
  return event;
}

/** The sentinel sample case names (not malformed, not unknown). */
export const SAMPLE_CASES = [
  'sdown-master',
  'sdown-slave',
  'sdown-sentinel',
  'odown',
  'new-epoch',
  'try-failover',
  'vote-for-leader',
  'elected-leader',
  'failover-state-select-slave',
  'selected-slave',
  'failover-state-send-slaveof-noone',
  'failover-state-wait-promotion',
  'promoted-slave',
  'failover-state-reconf-slaves',
  'failover-end',
  'switch-master',
  'odown-cleared',
  'sdown-cleared',
  'convert-to-slave',
  'reboot',
  'tilt',
  'tilt-exited',
] as const;
