import type { ErrorRequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { PolicyRejectedError, SafeSquidError } from '../errors.js';
import { sendError } from '../net/error-body.js';

export function sendPolicyRejected(res: Response, err: PolicyRejectedError): void {
  res.status(422).json({ ok: false, error: err.message, code: err.code, issues: err.issues });
}

/** Body-parser failures become 400/413 with a reason; anything else is a logged 500. */
export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const e = err as { status?: number; type?: string; message?: string; limit?: number };
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof PolicyRejectedError) return sendPolicyRejected(res, err);
    if (e.type === 'entity.too.large')
      return sendError(res, 413, `request body larger than the limit of ${e.limit} bytes`);
    if (e.type === 'entity.parse.failed') return sendError(res, 400, `request body is not valid JSON: ${e.message}`);
    if (typeof e.status === 'number' && e.status >= 400 && e.status < 500)
      return sendError(
        res,
        e.status,
        e.message ?? 'bad request',
        err instanceof SafeSquidError ? { code: err.code } : {},
      );
    logger.error({ err, method: req.method, path: req.originalUrl }, 'portal request failed');
    sendError(res, 500, `internal error: ${e.message ?? String(err)}`);
  };
}
