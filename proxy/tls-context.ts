// The proxy's own TLS certificate for clients: loaded from PEM files and reloaded when the files change on disk.

import { X509Certificate } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import tls from 'node:tls';

/** The certificate or key could not be read, or they do not belong together. */
export class TlsFilesError extends Error {
  readonly code = 'TLS_FILES_INVALID';
}

/** Where the context reports reloads; a pino logger fits. */
export interface TlsContextLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface TlsContextOptions {
  /** PEM certificate (chain: leaf first) and PEM private key, as in `tls.cert` / `tls.key`. */
  certFile: string;
  keyFile: string;
  /**
   * Least time between two looks at the files (ms). A look is two stat() calls; between looks the
   * loaded certificate is handed out unchanged, so a replaced certificate reaches new clients at
   * most this long after the files change. 0 looks on every call.
   */
  recheckMs?: number;
  /** Monotonic milliseconds. */
  now?: () => number;
  log?: TlsContextLog;
}

interface Loaded {
  context: tls.SecureContext;
  /** SHA-256 fingerprint of the leaf certificate, for logs (never the key). */
  fingerprint: string;
}

const DEFAULT_RECHECK_MS = 1_000;

/**
 * Polling the files' identity (inode, size, mtime, ctime) when clients arrive, rather than fs.watch,
 * survives what Kubernetes does to mounted Secrets (an atomic swap of a `..data` symlink, which
 * inotify on the file itself never sees) and editors that write a new file and rename it.
 */
export class TlsContext {
  readonly #certFile: string;
  readonly #keyFile: string;
  readonly #recheckMs: number;
  readonly #now: () => number;
  readonly #log: TlsContextLog | undefined;
  #loaded: Loaded;
  #filesSignature: string;
  /** Signature of files that failed to load: not retried (nor logged again) until they change again. */
  #failedSignature: string | null = null;
  #checkedAt: number;

  private constructor(options: TlsContextOptions, loaded: Loaded, signature: string) {
    this.#certFile = options.certFile;
    this.#keyFile = options.keyFile;
    this.#recheckMs = options.recheckMs ?? DEFAULT_RECHECK_MS;
    this.#now = options.now ?? (() => performance.now());
    this.#log = options.log;
    this.#loaded = loaded;
    this.#filesSignature = signature;
    this.#checkedAt = this.#now();
  }

  /** Loads the files now; throws TlsFilesError when they are unusable (a startup or reload error). */
  static load(options: TlsContextOptions): TlsContext {
    // stat before read: a change in between then shows up as a new signature at the next look.
    let signature: string;
    try {
      signature = readSignature(options.certFile, options.keyFile);
    } catch (err) {
      throw new TlsFilesError(`cannot read TLS certificate or key: ${(err as Error).message}`);
    }
    return new TlsContext(options, loadFiles(options.certFile, options.keyFile), signature);
  }

  /** SHA-256 fingerprint of the certificate now in use ("AB:CD:..."). */
  get fingerprint(): string {
    return this.#loaded.fingerprint;
  }

  /**
   * The context for a new TLS handshake. If the files changed since they were loaded, they are loaded
   * again; while the new pair is unusable (e.g. the certificate was replaced but not yet the key)
   * the previous certificate stays in use, so clients are never left without one.
   */
  current(): tls.SecureContext {
    const now = this.#now();
    if (now - this.#checkedAt >= this.#recheckMs) {
      this.#checkedAt = now;
      this.#refresh();
    }
    return this.#loaded.context;
  }

  #refresh(): void {
    let signature: string;
    try {
      signature = readSignature(this.#certFile, this.#keyFile);
    } catch (err) {
      this.#reportFailure(`missing:${(err as Error).message}`, err as Error);
      return;
    }
    if (signature === this.#filesSignature || signature === this.#failedSignature) return;
    try {
      const loaded = loadFiles(this.#certFile, this.#keyFile);
      const previous = this.#loaded.fingerprint;
      this.#loaded = loaded;
      this.#filesSignature = signature;
      this.#failedSignature = null;
      this.#log?.info(
        { event: 'tls-reloaded', fingerprint: loaded.fingerprint, previous },
        'TLS certificate reloaded',
      );
    } catch (err) {
      this.#reportFailure(signature, err as Error);
    }
  }

  #reportFailure(signature: string, err: Error): void {
    if (signature === this.#failedSignature) return;
    this.#failedSignature = signature;
    this.#log?.warn(
      { event: 'tls-reload-failed', fingerprint: this.#loaded.fingerprint },
      `TLS certificate files changed but cannot be used yet (keeping the previous certificate): ${err.message}`,
    );
  }
}

/** Identity of both files' current contents, cheap to compare. stat() follows symlinks, as reads do. */
function readSignature(certFile: string, keyFile: string): string {
  return [certFile, keyFile]
    .map((f) => {
      const s = statSync(f);
      return `${s.ino}:${s.size}:${s.mtimeMs}:${s.ctimeMs}`;
    })
    .join('|');
}

function loadFiles(certFile: string, keyFile: string): Loaded {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile);
    key = readFileSync(keyFile);
  } catch (err) {
    throw new TlsFilesError(`cannot read TLS certificate or key: ${(err as Error).message}`);
  }
  try {
    // createSecureContext checks that the key matches the certificate ("key values mismatch").
    const context = tls.createSecureContext({ cert, key });
    return { context, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch (err) {
    throw new TlsFilesError(
      `unusable TLS certificate ${certFile} or key ${keyFile}: ${(err as Error).message}`,
    );
  }
}
