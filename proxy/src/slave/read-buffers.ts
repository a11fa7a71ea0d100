/**
 * Read buffers for sockets read through `onread` (a tunnel's upstream, the fast path's pooled
 * upstream connections), so a read allocates nothing. Small reads land in one buffer shared by
 * every such socket and must be consumed (or copied) before the read callback returns, so an idle
 * socket holds no buffer of its own. A read that fills it moves the socket to a private buffer,
 * reused while its bytes are not kept past the callback, replaced when they are (`taken`: a write
 * of them is still queued and references the buffer), and dropped when reads are small again.
 */
export const SHARED_READ_BUFFER = Buffer.allocUnsafeSlow(16 * 1024);
const PRIVATE_BYTES = 64 * 1024;

export class ReadBuffers {
  private buf = SHARED_READ_BUFFER;
  /** Bytes of the last read; the read callback sets it. */
  last = 0;
  /** The last read's bytes are still referenced: the next read must not go into the same buffer. */
  taken = false;

  /** The `onread.buffer` function. */
  readonly next = (): Buffer => {
    if (this.buf === SHARED_READ_BUFFER) {
      if (this.last === SHARED_READ_BUFFER.length) this.buf = Buffer.allocUnsafeSlow(PRIVATE_BYTES);
    } else if (this.last < SHARED_READ_BUFFER.length / 4) {
      this.buf = SHARED_READ_BUFFER;
    } else if (this.taken) {
      this.buf = Buffer.allocUnsafeSlow(PRIVATE_BYTES);
    }
    this.taken = false;
    return this.buf;
  };
}
