import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ScriptRunner } from '../../adapters/host/script-runner.ts';

const run = promisify(execFile);

/** Scripts run from a small child process, so that a fork does not block the orchestrator's event loop. */
describe('ScriptRunner (real processes)', () => {
  const runner = new ScriptRunner();
  afterAll(() => runner.close());

  it('returns the output, the exit code of a failure, and a kill at the timeout', async () => {
    // Act
    const [ok, failed, slow] = await Promise.all([
      runner.run('bash', ['-c', 'echo "$0 $1"', 'a', 'b'], 5000),
      runner.run('bash', ['-c', 'echo oops >&2; exit 3'], 5000),
      runner.run('bash', ['-c', 'sleep 5'], 200),
    ]);

    // Assert
    expect(ok).toEqual({ stdout: 'a b\n', stderr: '' });
    expect(failed).toMatchObject({ stderr: 'oops\n', error: { killed: false, code: 3 } });
    expect(slow.error).toMatchObject({ killed: true });
  });

  it('fails the scripts in flight when its child dies, and starts a new child for the next one', async () => {
    // Arrange
    const inFlight = runner.run('bash', ['-c', 'sleep 5'], 10_000);
    const child = (runner as unknown as { child: { pid: number } }).child;

    // Act
    process.kill(child.pid, 'SIGKILL');

    // Assert
    await expect(inFlight).rejects.toThrow(/the script runner exited \(SIGKILL\)/);
    expect(await runner.run('bash', ['-c', 'echo again'], 5000)).toEqual({ stdout: 'again\n', stderr: '' });
  });

  it('keeps no process alive once its scripts are done', async () => {
    // Act: a process that runs one script and then has nothing left to do.
    const program = `
      import { ScriptRunner } from ${JSON.stringify(new URL('../../adapters/host/script-runner.ts', import.meta.url).pathname)};
      const r = await new ScriptRunner().run('bash', ['-c', 'echo done'], 5000);
      process.stdout.write(r.stdout);`;
    const started = Date.now();
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', program], {
      timeout: 10_000,
    });

    // Assert
    expect(stdout).toBe('done\n');
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
