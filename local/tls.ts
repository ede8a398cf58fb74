import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HaRedisError } from '../core/model/errors.ts';

const run = promisify(execFile);

/** Where generateTls put its files; `redis*` with `redis: true` only. */
export interface LocalTls {
  caCertPath: string;
  proxyPemPath: string;
  clientPemPath: string;
  /** The certificate of TLS-only redis-servers and Sentinels (serverAuth and clientAuth: replication uses it). */
  redisCertPath?: string;
  redisKeyPath?: string;
}

/** openssl, its failure said in one line with the likely cause. */
async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (error) {
    throw new HaRedisError(`openssl ${args[0]} failed (is openssl installed?): ${(error as Error).message}`, {
      cause: error,
    });
  }
}

/** EC P-256 keys, fast to make. */
const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/**
 * Generate a throw-away CA, a proxy certificate for localhost / 127.0.0.1, and a client certificate for the
 * HAProxy Runtime API over TLS, also good for Redis' `tls-auth-clients` (EC P-256, fast to make). PEMs with keys
 * are mode 600. `hostIps`: more addresses the proxy (and redis) certificates name (processes on other hosts).
 * `redis`: a certificate for TLS-only redis-servers and Sentinels too, with the same addresses as IP SANs.
 */
export async function generateTls(
  dir: string,
  hostIps: readonly string[] = [],
  options: { redis?: boolean } = {},
): Promise<LocalTls> {
  const ca = join(dir, 'ca');
  const proxy = join(dir, 'proxy');
  await openssl([
    'req',
    '-x509',
    ...EC,
    '-keyout',
    `${ca}.key`,
    '-out',
    `${ca}.crt`,
    '-days',
    '30',
    '-subj',
    '/CN=ha-redis local CA',
  ]);
  const issue = (base: string, subject: string, extension: string) =>
    issueSigned(ca, base, subject, extension);
  const extraSans = hostIps.map((ip) => `,IP:${ip}`).join('');
  await issue(proxy, '/CN=localhost', `subjectAltName=DNS:localhost,IP:127.0.0.1${extraSans}`);
  // The admin client: what ha-redis presents to a Runtime API that says `verify required`.
  const client = join(dir, 'client');
  await issue(client, '/CN=ha-redis-admin', 'extendedKeyUsage=clientAuth');
  await rm(`${client}.key`);
  const made = { caCertPath: `${ca}.crt`, proxyPemPath: `${proxy}.pem`, clientPemPath: `${client}.pem` };
  if (!options.redis) return made;
  const redis = join(dir, 'redis');
  await issue(
    redis,
    '/CN=ha-redis local redis',
    `subjectAltName=DNS:localhost,IP:127.0.0.1${extraSans}\nextendedKeyUsage=serverAuth,clientAuth`,
  );
  return { ...made, redisCertPath: `${redis}.crt`, redisKeyPath: `${redis}.key` };
}

/**
 * A key and a certificate signed by the CA at `<ca>.crt` / `<ca>.key`, as one PEM (mode 600) at `<base>.pem`; the
 * key and certificate stay beside it.
 */
export async function issueSigned(
  ca: string,
  base: string,
  subject: string,
  extension: string,
): Promise<void> {
  const ext = `${base}.ext`;
  await openssl(['req', ...EC, '-keyout', `${base}.key`, '-out', `${base}.csr`, '-subj', subject]);
  await writeFile(ext, `${extension}\n`);
  await openssl([
    'x509',
    '-req',
    '-in',
    `${base}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${base}.crt`,
    '-days',
    '30',
    '-extfile',
    ext,
  ]);
  const pem = `${await readFile(`${base}.crt`, 'utf8')}${await readFile(`${base}.key`, 'utf8')}`;
  await writeFile(`${base}.pem`, pem, { mode: 0o600 });
  await rm(`${base}.csr`);
  await rm(ext);
}

/** A proxy certificate for `ips`, signed by the CA of `caCertPath` (its key beside it): the TLS frontends' PEM. */
export async function issueProxyPem(
  caCertPath: string,
  base: string,
  ips: readonly string[],
): Promise<string> {
  const sans = ips.map((ip) => `,IP:${ip}`).join('');
  await issueSigned(
    caCertPath.replace(/\.crt$/, ''),
    base,
    '/CN=localhost',
    `subjectAltName=DNS:localhost,IP:127.0.0.1${sans}`,
  );
  return `${base}.pem`;
}
