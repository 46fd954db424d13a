/**
 * One request to a `statusHandler` (src/status/handler.ts) without a socket: a fake response that
 * keeps what the handler wrote. Shared by the status unit tests and the check-module replay, which
 * compare the code, content type and body with the module's, byte for byte. O(page size).
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { statusHandler } from '../src/status';

/** What one GET of `target` gets from `handler`: the status code, `Content-Type` and the whole body. */
export interface StatusAnswer {
  code: number;
  contentType: string;
  body: string;
}

export function askStatus(handler: ReturnType<typeof statusHandler>, target: string): StatusAnswer {
  let code = 0;
  let contentType = '';
  let body = '';
  const res = {
    destroyed: false,
    headersSent: false,
    writeHead(status: number, headers: Record<string, string | number>) {
      code = status;
      contentType = String(headers['content-type']);
      this.headersSent = true;
    },
    write(chunk: string) {
      body += chunk;
      return true;
    },
    end(chunk?: string) {
      if (chunk !== undefined) body += chunk;
    },
    once() {},
  };
  handler({ method: 'GET', url: target } as IncomingMessage, res as unknown as ServerResponse);
  return { code, contentType, body };
}
