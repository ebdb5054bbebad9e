/**
 * Writes API results and errors in the platform's shapes: JSON by default, XML with `Format=XML`
 * (`<{Action}Response>` root; errors as `<Error>` with content-type `text/xml;charset=utf-8`, the only XML
 * content-type the SDK's ACS3 path parses, docs/protocol/wire-capture.md, "Cloud OpenAPI SDK: errors").
 */
import type { ServerResponse } from 'node:http';
import { ApiError } from '../errors';
import { toXml } from './xml';

export type ResponseFormat = 'JSON' | 'XML';

const JSON_TYPE = 'application/json;charset=utf-8';
const XML_TYPE = 'text/xml;charset=utf-8';

function write(res: ServerResponse, status: number, type: string, text: string): void {
  if (res.headersSent || res.destroyed) return;
  const body = Buffer.from(text, 'utf8');
  res.writeHead(status, { 'content-type': type, 'content-length': body.length });
  res.end(body);
}

/** A successful call (also RRpc TIMEOUT/OFFLINE, which the platform reports with Success:true). */
export function sendResult(res: ServerResponse, format: ResponseFormat, action: string, requestId: string, body: Record<string, unknown>): void {
  const full = { RequestId: requestId, Success: true, ...body };
  if (format === 'XML') write(res, 200, XML_TYPE, toXml(`${action}Response`, full));
  else write(res, 200, JSON_TYPE, JSON.stringify(full));
}

/** A failed call: HTTP 200 Success:false for business errors, the error's status and the error shape otherwise. */
export function sendError(res: ServerResponse, format: ResponseFormat, action: string, requestId: string, err: ApiError, hostId: string): void {
  if (err.kind === 'business') {
    const body = { RequestId: requestId, Success: false, Code: err.code, ErrorMessage: err.message };
    if (format === 'XML') write(res, 200, XML_TYPE, toXml(`${action || 'Error'}Response`, body));
    else write(res, 200, JSON_TYPE, JSON.stringify(body));
    return;
  }
  const body = { RequestId: requestId, HostId: hostId, Code: err.code, Message: err.message, Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(err.code)}` };
  if (format === 'XML') write(res, err.httpStatus, XML_TYPE, toXml('Error', body));
  else write(res, err.httpStatus, JSON_TYPE, JSON.stringify(body));
}
