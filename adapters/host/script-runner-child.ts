/**
 * The script runner's child process (see script-runner.ts): runs each script it is sent with execFile and sends
 * the outcome back. It imports nothing else, so that it stays small: a fork of a small process is cheap, and it
 * runs beside the orchestrator's event loop instead of blocking it.
 */
import { execFile } from 'node:child_process';

interface Request {
  id: number;
  file: string;
  args: string[];
  timeoutMs: number;
}

process.on('message', (message: Request) => {
  const { id, file, args, timeoutMs } = message;
  execFile(file, args, { timeout: timeoutMs }, (error, stdout, stderr) => {
    process.send?.({
      id,
      stdout,
      stderr,
      ...(error
        ? {
            error: {
              message: error.message,
              killed: error.killed === true,
              ...(typeof error.code === 'number' ? { code: error.code } : {}),
            },
          }
        : {}),
    });
  });
});
// The orchestrator (or CLI) that started it is gone: so is the reason to run.
process.on('disconnect', () => process.exit(0));
