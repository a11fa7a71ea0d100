/**
 * Every JSON error the master answers, portal and report API alike: a sentence for people in
 * `error`, the stable `code` of a SafeSquidError when there is one, and where the fault is.
 * Slaves read these fields (the shipper logs `field` and `index` of a refused batch).
 */
import type { Response } from 'express';

export interface ErrorBody {
  error: string;
  /** The stable code of the SafeSquidError behind the answer (see errors.ts). */
  code?: string;
  /** Policy issues: set, field path, message, and line/column in the text when known. */
  issues?: unknown[];
  /** The query parameter at fault. */
  parameter?: string;
  /** The record or body field at fault. */
  field?: string;
  /** The index of the first bad record of a batch. */
  index?: number;
}

export type ErrorDetails = Omit<ErrorBody, 'error'>;

export function sendError(res: Response, status: number, error: string, details: ErrorDetails = {}): void {
  // An unread request body (413) would otherwise keep the connection busy: close it.
  if (status === 413) res.setHeader('Connection', 'close');
  res.status(status).json({ error, ...details });
}
