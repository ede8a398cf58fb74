import { afterEach, describe, expect, it, vi } from 'vitest';
import { formatNotification } from '../../../adapters/notify/format.ts';
import { LocalNotifier } from '../../../adapters/notify/local-notifier.ts';
import { FakeClock } from '../../fakes/clock.ts';
import { RecordingLogger } from '../../fakes/reporting.ts';
import { type Answer, failoverOk, LoopbackServer, switchoverFailed } from './fixtures.ts';

const servers: LoopbackServer[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function server(...answers: Answer[]): Promise<LoopbackServer> {
  const s = await LoopbackServer.start(...answers);
  servers.push(s);
  return s;
}

describe('LocalNotifier', () => {
  it('prints each outcome’s plain text as one block', async () => {
    // Arrange
    const blocks: string[] = [];
    const notifier = new LocalNotifier({ write: (block) => blocks.push(block) });
    const n = await failoverOk();

    // Act
    await notifier.publish(n);

    // Assert
    expect(blocks).toEqual([`${formatNotification(n).text}\n`]);
    expect(blocks[0]?.startsWith('FAILOVER OK: orders\n')).toBe(true);
  });

  it('writes to stderr by default', async () => {
    // Arrange
    const write = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    const notifier = new LocalNotifier();

    // Act
    await notifier.publish(switchoverFailed());

    // Assert
    expect(write).toHaveBeenCalledTimes(1);
    expect(String(write.mock.calls[0]?.[0])).toMatch(/^SWITCHOVER FAILED: orders\n/);
  });

  it('also POSTs the JSON document to the webhook URL it was given', async () => {
    // Arrange
    const s = await server({ status: 200 });
    const notifier = new LocalNotifier({ write: () => undefined, webhookUrl: s.url('/local-hook') });
    const n = await failoverOk();

    // Act
    await notifier.publish(n);
    await notifier.idle();

    // Assert
    expect(s.requests).toHaveLength(1);
    expect(s.requests[0]?.path).toBe('/local-hook');
    expect(JSON.parse(s.requests[0]?.body ?? '')).toEqual(formatNotification(n).json);
  });

  it('never throws when the webhook keeps failing: it retries, then logs', async () => {
    // Arrange
    const s = await server({ status: 500 });
    const logger = new RecordingLogger();
    const clock = new FakeClock();
    const notifier = new LocalNotifier({
      write: () => undefined,
      webhookUrl: s.url(),
      logger,
      clock,
      random: () => 0,
    });

    // Act
    await notifier.publish(await failoverOk());
    await notifier.idle();

    // Assert
    expect(s.requests).toHaveLength(4);
    expect(logger.lines).toEqual([
      { level: 'warn', message: 'notification not delivered to the local webhook' },
    ]);
  });

  it('never throws when the webhook is unreachable, or printing fails', async () => {
    // Arrange
    const logger = new RecordingLogger();
    const notifier = new LocalNotifier({
      write: () => {
        throw new Error('EPIPE');
      },
      webhookUrl: 'http://127.0.0.1:1/unreachable',
      logger,
      clock: new FakeClock(),
      random: () => 0,
    });

    // Act
    const published = notifier.publish(await failoverOk());

    // Assert
    await expect(published).resolves.toBeUndefined();
    await expect(notifier.idle()).resolves.toBeUndefined();
    expect(logger.lines).toEqual([
      { level: 'warn', message: 'notification not printed' },
      { level: 'warn', message: 'notification not delivered to the local webhook' },
    ]);
  });

  it('does not wait for the webhook before it returns', async () => {
    // Arrange
    const s = await server({ status: 200, hang: true });
    const notifier = new LocalNotifier({
      write: () => undefined,
      webhookUrl: s.url(),
      timeoutMs: 50,
      policy: { maxAttempts: 1, baseMs: 1, capMs: 1 },
      logger: new RecordingLogger(),
    });

    // Act
    await notifier.publish(await failoverOk());

    // Assert: publish has returned while the server holds the request unanswered.
    await vi.waitFor(() => expect(s.requests).toHaveLength(1));
    await notifier.idle();
  });
});
