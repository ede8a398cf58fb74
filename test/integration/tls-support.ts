import { execFileSync } from 'node:child_process';

/**
 * Why this machine cannot run a test against TLS-only redis-server and redis-sentinel processes (no openssl, or a
 * redis-server built without TLS); undefined when it can.
 */
export function tlsSkipReason(): string | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return 'openssl is not installed (it makes the test CA and certificates)';
  }
  try {
    // A TLS build takes the directive and then finds nothing to listen on; one without TLS refuses the directive.
    execFileSync('redis-server', ['--port', '0', '--tls-port', '0'], { encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const said = `${(error as { stdout?: string }).stdout ?? ''}${(error as { stderr?: string }).stderr ?? ''}`;
    if (!/not listen anywhere/.test(said))
      return `redis-server has no TLS support: ${said.trim().slice(-200)}`;
  }
  return undefined;
}
