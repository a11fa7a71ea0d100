/**
 * Incremental decoder for a chunked response body, for the fast path: the chunk data is handed on
 * as slices of the buffers read (no copies), and the decoder says where the body ended, so the
 * upstream connection can be reused. Trailers are read and dropped (node:http's relay drops them too).
 */
import { ResponseHeadError } from './http-head.js';

const SIZE = 0;
const DATA = 1;
const DATA_CR = 2;
const DATA_LF = 3;
const TRAILER = 4;
const MAX_LINE = 4096;

export class ChunkedDecoder {
  private state = SIZE;
  private remaining = 0;
  private line = '';

  /**
   * Decodes `buf` from `start`, passing chunk data to `onData`. Returns the index just past the
   * end of the body, or -1 when more input is needed. Throws ResponseHeadError when malformed.
   */
  feed(buf: Buffer, start: number, onData: (data: Buffer) => void): number {
    let i = start;
    while (i < buf.length) {
      switch (this.state) {
        case DATA: {
          const n = Math.min(this.remaining, buf.length - i);
          onData(buf.subarray(i, i + n));
          i += n;
          this.remaining -= n;
          if (this.remaining === 0) this.state = DATA_CR;
          break;
        }
        case DATA_CR:
          if (buf[i++] !== 13) throw new ResponseHeadError('chunk data not followed by CRLF');
          this.state = DATA_LF;
          break;
        case DATA_LF:
          if (buf[i++] !== 10) throw new ResponseHeadError('chunk data not followed by CRLF');
          this.state = SIZE;
          break;
        default: {
          // SIZE and TRAILER are line-based.
          const lf = buf.indexOf(10, i);
          const end = lf === -1 ? buf.length : lf + 1;
          this.line += buf.toString('latin1', i, end);
          i = end;
          if (this.line.length > MAX_LINE) throw new ResponseHeadError('chunk size or trailer line too long');
          if (lf === -1) break;
          const line = this.line;
          this.line = '';
          if (!line.endsWith('\r\n')) throw new ResponseHeadError('bare LF in chunked body');
          if (this.state === TRAILER) {
            if (line.length === 2) return i;
            break;
          }
          const m = /^([0-9a-fA-F]{1,12})[ \t]*(;[^\r\n]*)?\r\n$/.exec(line);
          if (!m) throw new ResponseHeadError(`invalid chunk size line "${line.slice(0, 40).trim()}"`);
          this.remaining = parseInt(m[1], 16);
          this.state = this.remaining === 0 ? TRAILER : DATA;
        }
      }
    }
    return -1;
  }
}
