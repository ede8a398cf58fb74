import { appendFile } from 'node:fs/promises';
import type { Notification } from '../../core/model/records.ts';
import type { Notifier } from '../../core/ports.ts';

/** Local notifications: one JSON line per outcome in a file, and any in-process listeners (the CLI, the demo). */
export class FileNotifier implements Notifier {
  private readonly path: string;
  private readonly listeners: ((n: Notification) => void)[] = [];
  constructor(path: string) {
    this.path = path;
  }
  onNotification(listener: (n: Notification) => void): void {
    this.listeners.push(listener);
  }
  async publish(notification: Notification): Promise<void> {
    await appendFile(this.path, `${JSON.stringify({ at: new Date().toISOString(), ...notification })}\n`);
    for (const listener of this.listeners) listener(notification);
  }
}
