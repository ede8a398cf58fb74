import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { HaRedisError } from '../functions/core/errors.ts';

const run = promisify(execFile);

/** Generate a throw-away CA and a proxy certificate for localhost / 127.0.0.1 (EC P-256, fast to make). */
export async function generateTls(dir: string): Promise<{ caCertPath: string; proxyPemPath: string }> {
  const ca = join(dir, 'ca');
  const proxy = join(dir, 'proxy');
  const ext = join(dir, 'proxy.ext');
  const openssl = async (args: string[]) => {
    try {
      await run('openssl', args);
    } catch (error) {
      throw new HaRedisError(
        `openssl ${args[0]} failed (is openssl installed?): ${(error as Error).message}`,
        { cause: error },
      );
    }
  };
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await openssl([
    'req',
    '-x509',
    ...ec,
    '-keyout',
    `${ca}.key`,
    '-out',
    `${ca}.crt`,
    '-days',
    '30',
    '-subj',
    '/CN=ha-redis local CA',
  ]);
  await openssl(['req', ...ec, '-keyout', `${proxy}.key`, '-out', `${proxy}.csr`, '-subj', '/CN=localhost']);
  await writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
  await openssl([
    'x509',
    '-req',
    '-in',
    `${proxy}.csr`,
    '-CA',
    `${ca}.crt`,
    '-CAkey',
    `${ca}.key`,
    '-CAcreateserial',
    '-out',
    `${proxy}.crt`,
    '-days',
    '30',
    '-extfile',
    ext,
  ]);
  const pem = `${await readFile(`${proxy}.crt`, 'utf8')}${await readFile(`${proxy}.key`, 'utf8')}`;
  await writeFile(`${proxy}.pem`, pem, { mode: 0o600 });
  await rm(`${proxy}.csr`);
  await rm(ext);
  return { caCertPath: `${ca}.crt`, proxyPemPath: `${proxy}.pem` };
}
