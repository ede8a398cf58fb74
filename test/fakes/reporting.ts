/** Fakes of the ports that report: Notifier and Logger. */

import type { Notification } from '../../core/model/records.ts';
import type { Logger, Notifier } from '../../core/ports.ts';

export class FakeNotifier implements Notifier {
  readonly published: Notification[] = [];
  failWith: Error | undefined;
  async publish(notification: Notification): Promise<void> {
    if (this.failWith) throw this.failWith;
    this.published.push(notification);
  }
}

/** A logger that keeps what it was told, and prints nothing. */
export class RecordingLogger implements Logger {
  readonly lines: { level: 'debug' | 'info' | 'warn' | 'error'; message: string }[] = [];
  debug(message: string): void {
    this.lines.push({ level: 'debug', message });
  }
  info(message: string): void {
    this.lines.push({ level: 'info', message });
  }
  warn(message: string): void {
    this.lines.push({ level: 'warn', message });
  }
  error(message: string): void {
    this.lines.push({ level: 'error', message });
  }
}

export const silentLogger: Logger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
