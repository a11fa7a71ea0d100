/**
 * The portal's TLS certificate and key, from files (a mounted `kubernetes.io/tls` Secret that
 * cert-manager renews): checked every few seconds and swapped into the running server, so a renewed
 * certificate needs no restart. A pair that does not load (a half-written rotation: new certificate,
 * old key) is logged and the pair in use stays until both files agree again.
 */
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type { Server } from 'node:https';
import type { Logger } from 'pino';

export interface CertificateFiles {
  certFile: string;
  keyFile: string;
}

export interface CertificatePair {
  cert: string;
  key: string;
}

/** Reads and checks a pair; the error names both files and what TLS made of them. */
export function loadCertificatePair(files: CertificateFiles): CertificatePair {
  let pair: CertificatePair;
  try {
    pair = { cert: readFileSync(files.certFile, 'utf8'), key: readFileSync(files.keyFile, 'utf8') };
  } catch (err) {
    throw new Error(`cannot read the portal's TLS certificate or key: ${(err as Error).message}`, { cause: err });
  }
  try {
    createSecureContext(pair);
  } catch (err) {
    throw new Error(
      `the TLS certificate ${files.certFile} and key ${files.keyFile} do not load together: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return pair;
}

export class ServingCertificate {
  private timer: NodeJS.Timeout | undefined;
  private version: string;
  private failedVersion: string | undefined;

  constructor(
    readonly files: CertificateFiles,
    private readonly logger: Logger,
    private readonly checkMs = 2000,
  ) {
    this.version = this.stat();
  }

  /** Starts swapping renewed pairs into `server`. */
  watch(server: Server): void {
    this.timer = setInterval(() => this.check(server), this.checkMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private check(server: Server): void {
    let version: string;
    try {
      version = this.stat();
    } catch {
      return; // mid-swap: the next check sees the new files
    }
    if (version === this.version || version === this.failedVersion) return;
    try {
      server.setSecureContext(loadCertificatePair(this.files));
      this.version = version;
      this.failedVersion = undefined;
      this.logger.info({ cert: this.files.certFile }, 'TLS certificate renewed: new connections get the new one');
    } catch (err) {
      this.failedVersion = version;
      this.logger.error(
        { err: (err as Error).message },
        'the renewed TLS certificate does not load; still serving the previous one',
      );
    }
  }

  /** Both files' identities: a Secret update swaps a symlink, changing inode and mtime. */
  private stat(): string {
    return [this.files.certFile, this.files.keyFile]
      .map((f) => {
        const st = statSync(f);
        return `${st.ino}:${st.mtimeMs}:${st.size}`;
      })
      .join('/');
  }
}
