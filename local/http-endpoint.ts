import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EndpointRequest {
  headers: Record<string, string | undefined>;
  body: string;
}
export interface EndpointResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** Requests larger than Slack ever sends are refused before they are read whole. */
const MAX_BODY_BYTES = 64 * 1024;

function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        resolve(undefined);
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Serve one handler on a loopback port (the local stand-in for a Lambda Function URL): the raw body and the
 * lower-cased headers go to the handler, whose answer is sent as is. POST only.
 */
export async function serveOnLoopback(
  port: number,
  handle: (req: EndpointRequest) => Promise<EndpointResponse>,
  onError: (error: unknown) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.method !== 'POST') {
          res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain' }).end('POST only\n');
          return;
        }
        const body = await readBody(req);
        if (body === undefined) {
          res.writeHead(413, { 'content-type': 'text/plain' }).end('request body too large\n');
          return;
        }
        const headers: Record<string, string | undefined> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
        }
        const answer = await handle({ headers, body });
        res.writeHead(answer.statusCode, answer.headers).end(answer.body);
      } catch (error) {
        onError(error);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      }
    })();
  });
  return listenOnLoopback(server, port, '/slack');
}

/** Listen on 127.0.0.1 only (never another interface): the URL at `path` and a close that waits. */
async function listenOnLoopback(
  server: Server,
  port: number,
  path: string,
): Promise<{ url: string; close(): Promise<void> }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}${path}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // A browser's keep-alive connection would hold close() open.
        server.closeIdleConnections();
      }),
  };
}

/**
 * Serve read-only pages on a loopback port: GET and HEAD of the paths in `pages`, nothing else (405 for any
 * other method, 404 for another path). A request whose Host header is not this loopback address is refused
 * (421), so that a web page whose name resolves to 127.0.0.1 (DNS rebinding) cannot read the answers.
 */
export async function serveReadOnlyOnLoopback(
  port: number,
  pages: ReadonlyMap<string, () => Promise<EndpointResponse>>,
  onError: (error: unknown) => void,
): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    void (async () => {
      try {
        if (req.method !== 'GET' && req.method !== 'HEAD') {
          res
            .writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' })
            .end('read-only: GET only\n');
          return;
        }
        const { port: bound } = server.address() as AddressInfo;
        const host = req.headers.host ?? '';
        if (host !== `127.0.0.1:${bound}` && host !== `localhost:${bound}`) {
          res.writeHead(421, { 'content-type': 'text/plain' }).end(`open http://127.0.0.1:${bound}/\n`);
          return;
        }
        const page = pages.get(new URL(req.url ?? '/', 'http://loopback').pathname);
        if (!page) {
          res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
          return;
        }
        const answer = await page();
        res.writeHead(answer.statusCode, answer.headers).end(req.method === 'HEAD' ? undefined : answer.body);
      } catch (error) {
        onError(error);
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      }
    })();
  });
  return listenOnLoopback(server, port, '/');
}
