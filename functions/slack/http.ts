import type { LambdaFunctionURLEvent } from 'aws-lambda';
import { z } from 'zod';
import type { SlackMessage } from './contract.ts';

/** The HTTP side of the Slack front door: the request and response shapes, and the Function URL event. */

/** An HTTP request, as a Function URL or the local loopback server hands it over. */
export interface HttpRequest {
  headers: Record<string, string | undefined>;
  body: string;
  isBase64Encoded?: boolean;
}

/** The answer to Slack, as a Function URL or the local loopback server sends it. */
export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };
const TEXT_HEADERS = { 'content-type': 'text/plain; charset=utf-8' };

/** A 200 carrying a Slack message (shown to the user who sent the command). */
export const reply = (message: SlackMessage): HttpResponse => ({
  statusCode: 200,
  headers: JSON_HEADERS,
  body: JSON.stringify(message),
});

/** A plain-text answer with its status code. */
export const plain = (statusCode: number, body: string): HttpResponse => ({
  statusCode,
  headers: TEXT_HEADERS,
  body,
});

/** The acknowledgement of an interaction: Slack wants a 200 within 3 s; the answer goes to response_url. */
export const ack = (): HttpResponse => plain(200, '');

/** The body bytes exactly as sent: the signature covers them. */
export const rawBodyOf = (req: HttpRequest): Buffer =>
  req.isBase64Encoded ? Buffer.from(req.body, 'base64') : Buffer.from(req.body, 'utf8');

/** The parts of a Lambda Function URL event (payload format 2.0) the handler reads. */
export const FunctionUrlEventSchema = z.object({
  version: z.literal('2.0'),
  headers: z.record(z.string(), z.string()).default({}),
  body: z.string().optional(),
  isBase64Encoded: z.boolean().default(false),
  requestContext: z.object({ http: z.object({ method: z.string() }) }),
});

/** A Function URL event as an HttpRequest: its headers (lower case), and the body as it came. */
export function fromFunctionUrlEvent(
  event: Pick<LambdaFunctionURLEvent, 'headers' | 'body' | 'isBase64Encoded'>,
): HttpRequest {
  return { headers: { ...event.headers }, body: event.body ?? '', isBase64Encoded: event.isBase64Encoded };
}
