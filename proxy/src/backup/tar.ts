/**
 * The backup archive's container: a POSIX ustar stream (gzip-compressed by the caller), so an
 * administrator can look inside with `tar -tzvf` and take one file out with `tar -xzf`. Only
 * what a backup needs: regular files with short names. Sizes of 8 GiB and more use the GNU
 * base-256 size field, which GNU tar and bsdtar read.
 */
import type { Readable, Writable } from 'node:stream';
import { TarFormatError } from '../errors.js';
export { TarFormatError };

const BLOCK = 512;
const MAX_OCTAL_SIZE = 8 ** 11 - 1;

export interface TarEntryHeader {
  name: string;
  size: number;
  mtime: Date;
}

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, '0') + '\0';
}

export function tarHeader(h: TarEntryHeader): Buffer {
  if (!/^[A-Za-z0-9._-]{1,99}$/.test(h.name)) throw new Error(`tar: unsupported entry name "${h.name}"`);
  const b = Buffer.alloc(BLOCK);
  b.write(h.name, 0, 100, 'utf8');
  b.write(octal(0o600, 8), 100, 'ascii');
  b.write(octal(0, 8), 108, 'ascii');
  b.write(octal(0, 8), 116, 'ascii');
  if (h.size <= MAX_OCTAL_SIZE) {
    b.write(octal(h.size, 12), 124, 'ascii');
  } else {
    // GNU base-256: high bit set, the size big-endian in the remaining bytes.
    b[124] = 0x80;
    b.writeBigUInt64BE(BigInt(h.size), 124 + 4);
  }
  b.write(octal(Math.floor(h.mtime.getTime() / 1000), 12), 136, 'ascii');
  b.write('        ', 148, 'ascii');
  b.write('0', 156, 'ascii');
  b.write('ustar\0', 257, 'ascii');
  b.write('00', 263, 'ascii');
  b.write('safesquid', 265, 'ascii');
  b.write('safesquid', 297, 'ascii');
  let sum = 0;
  for (const byte of b) sum += byte;
  b.write(octal(sum, 7) + ' ', 148, 'ascii');
  return b;
}

export const tarPadding = (size: number): Buffer => Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
/** Two zero blocks end an archive. */
export const tarEnd = (): Buffer => Buffer.alloc(2 * BLOCK);

function parseHeader(b: Buffer, offset: number): TarEntryHeader | undefined {
  if (b.every((x) => x === 0)) return undefined;
  const stored = b.toString('ascii', 148, 156).replace(/[\0 ]+$/, '');
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : b[i];
  if (parseInt(stored, 8) !== sum)
    throw new TarFormatError(`not a tar archive (bad header checksum at byte ${offset})`);
  const name = b.toString('utf8', 0, 100).replace(/\0.*$/s, '');
  const type = String.fromCharCode(b[156] || 0x30);
  if (type !== '0') throw new TarFormatError(`tar entry "${name}" is not a regular file (type ${type})`);
  const size =
    b[124] & 0x80
      ? Number(b.readBigUInt64BE(124 + 4))
      : parseInt(b.toString('ascii', 124, 136).replace(/[\0 ]+$/, '') || '0', 8);
  const mtime = new Date(parseInt(b.toString('ascii', 136, 148).replace(/[\0 ]+$/, '') || '0', 8) * 1000);
  if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError(`tar entry "${name}" has a bad size`);
  return { name, size, mtime };
}

/** Reads exactly n bytes at a time from a stream's chunks. */
class ExactReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  private readonly it: AsyncIterator<Buffer>;
  offset = 0;

  constructor(stream: Readable) {
    this.it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  }

  /** Up to n bytes (fewer only at the end of the stream), at most `max` buffered at once. */
  async read(n: number): Promise<Buffer> {
    while (this.buffered < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else {
        this.chunks.push(next.value);
        this.buffered += next.value.length;
      }
    }
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, Math.min(n, all.length));
    const rest = all.subarray(out.length);
    this.chunks = rest.length ? [rest] : [];
    this.buffered = rest.length;
    this.offset += out.length;
    return out;
  }
}

/**
 * Calls `onEntry` for each file in the (uncompressed) tar stream with an async iterable of its
 * content, which it must consume. Throws TarFormatError on a damaged or truncated archive.
 */
export async function readTar(
  stream: Readable,
  onEntry: (h: TarEntryHeader, content: AsyncIterable<Buffer>) => Promise<void>,
): Promise<void> {
  const r = new ExactReader(stream);
  for (;;) {
    const at = r.offset;
    const block = await r.read(BLOCK);
    if (at === 0 && block.length < BLOCK) throw new TarFormatError('not a SafeSquid backup (no tar archive inside)');
    if (block.length === 0) throw new TarFormatError('the archive ends without its end marker (truncated?)');
    if (block.length < BLOCK) throw new TarFormatError(`the archive is truncated (a header at byte ${at} is cut)`);
    const h = parseHeader(block, at);
    if (!h) return;
    let left = h.size;
    let consumed = false;
    const content = async function* () {
      while (left > 0) {
        const chunk = await r.read(Math.min(left, 1024 * 1024));
        if (chunk.length === 0) throw new TarFormatError(`the archive is truncated inside "${h.name}"`);
        left -= chunk.length;
        yield chunk;
      }
      consumed = true;
    };
    await onEntry(h, content());
    if (!consumed) for await (const _ of content()) void _;
    const pad = tarPadding(h.size).length;
    if (pad && (await r.read(pad)).length < pad) throw new TarFormatError('the archive is truncated');
  }
}

/** Writes one chunk, waiting for the stream to drain when it asks to. */
export async function writeChunk(out: Writable, chunk: Buffer): Promise<void> {
  if (!out.write(chunk)) {
    await new Promise<void>((resolve, reject) => {
      const onDrain = () => {
        out.off('error', onError);
        resolve();
      };
      const onError = (err: Error) => {
        out.off('drain', onDrain);
        reject(err);
      };
      out.once('drain', onDrain);
      out.once('error', onError);
    });
  }
}
