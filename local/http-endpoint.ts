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
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${bound}/slack`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
