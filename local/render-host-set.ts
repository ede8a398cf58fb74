/** The config file of a host set's HAProxy: one per host, for every service (the shared Sentinel's is in render.ts). */
import type { Endpoint } from '../core/model/cluster.ts';
import { type HaproxyConfInput, haproxyPreamble } from './render.ts';

/** One service behind a host's HAProxy: its frontends' ports, and the master its backend routes to. */
export interface ProxiedService {
  /** The service's name; its backend and frontends are named after it. */
  name: string;
  plainPort: number;
  tlsPort: number;
  master: Endpoint;
}

/** The backend of a service on a shared HAProxy (its server slot is `master`). */
export const serviceBackend = (service: string): string => `redis_${service.replaceAll('-', '_')}`;

/**
 * One HAProxy for every service on a host, as the seed deploys it: per service a plain and a TLS frontend and
 * a fail-closed backend with one `master` slot; one Runtime API (admin socket, and over TLS) for them all.
 */
export function renderHostHaproxyConf(
  i: Pick<HaproxyConfInput, 'socketPath' | 'stateFilePath' | 'pemPath' | 'apiTls' | 'bind'> & {
    services: ProxiedService[];
  },
): string {
  const bind = i.bind ?? '127.0.0.1';
  const lines = haproxyPreamble(i);
  for (const s of i.services) {
    const backend = serviceBackend(s.name);
    lines.push(
      `frontend ${backend}_plain`,
      `    bind ${bind}:${s.plainPort}`,
      `    default_backend ${backend}`,
      '',
      `frontend ${backend}_tls`,
      `    bind ${bind}:${s.tlsPort} ssl crt ${i.pemPath}`,
      `    default_backend ${backend}`,
      '',
      `backend ${backend}`,
      `    server master ${s.master.host}:${s.master.port}`,
      '',
    );
  }
  return lines.join('\n');
}
