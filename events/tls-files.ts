import { readFile } from 'node:fs/promises';

/** What a host agent presents and checks on a TLS connection to its local Sentinel or redis-server (PEMs). */
export interface HostTls {
  ca: string;
  cert?: string;
  key?: string;
}

/**
 * TLS for a host agent (the bridge, the node agent) from files named in its environment: `<prefix>_TLS_CA_FILE`
 * turns TLS on (the CA the server's certificate chains to); `<prefix>_TLS_CERT_FILE` and `<prefix>_TLS_KEY_FILE`
 * give the client certificate a server with `tls-auth-clients yes` asks for. Undefined: plain TCP.
 */
export async function tlsFromFiles(env: NodeJS.ProcessEnv, prefix: string): Promise<HostTls | undefined> {
  const caFile = env[`${prefix}_TLS_CA_FILE`];
  const certFile = env[`${prefix}_TLS_CERT_FILE`];
  const keyFile = env[`${prefix}_TLS_KEY_FILE`];
  if (!caFile) {
    if (certFile || keyFile)
      throw new Error(`${prefix}_TLS_CERT_FILE and _KEY_FILE need ${prefix}_TLS_CA_FILE`);
    return undefined;
  }
  if (Boolean(certFile) !== Boolean(keyFile)) {
    throw new Error(`give both ${prefix}_TLS_CERT_FILE and ${prefix}_TLS_KEY_FILE, or neither`);
  }
  const ca = await readFile(caFile, 'utf8');
  if (!certFile || !keyFile) return { ca };
  return { ca, cert: await readFile(certFile, 'utf8'), key: await readFile(keyFile, 'utf8') };
}
