// Writes relayed bytes straight to a TCP socket's libuv handle, and through net.Socket's stream when it must.

import type net from 'node:net';
import { getSystemErrorName } from 'node:util';

/**
 * What net.Socket#write does for one relayed buffer, without its Writable stream around it: the
 * stream's bookkeeping, a write request object per write, a process.nextTick to report a write that
 * finished synchronously, and the tick queue run that follows each callback into JavaScript.
 * Measured with callgrind under `pgbench -S`, that is about 3,000 instructions of the 40,000 the
 * proxy spends per transaction, for a write the kernel almost always takes whole at once.
 *
 * So a relayed buffer goes to the handle's own `writeBuffer`, which tries the write at once
 * (uv_try_write) and queues the rest in libuv. That is the call net.Socket makes underneath, so
 * the bytes, their order and the errors are the same; only the stream around it is skipped. The
 * stream is used, as before, whenever it has bytes of its own queued (libuv keeps order between
 * both ways then), when the socket is not a plain connected TCP socket (TLS sockets write through
 * their TLS layer), and when the Node internals this relies on are not there (another Node version):
 * those sockets behave exactly as with net.Socket#write.
 */
interface StreamWrapBinding {
  WriteWrap: new () => WriteRequest;
  streamBaseState: Int32Array | Uint32Array | Float64Array;
  kLastWriteWasAsync: number;
}

/** The request object libuv completes a queued write with (node's WriteWrap). */
interface WriteRequest {
  handle: unknown;
  oncomplete: (this: WriteRequest, status: number) => void;
  writer: SocketWriter | null;
  /** Keeps the bytes alive until libuv has written them. */
  buffer: Buffer | null;
}

interface TcpHandle {
  writeBuffer(req: WriteRequest, data: Buffer): number;
}

const binding = loadBinding();

function loadBinding(): { stream: StreamWrapBinding; tcp: abstract new () => unknown } | null {
  try {
    // process.binding is how this is reached without --expose-internals; its 'stream_wrap' and
    // 'tcp_wrap' modules are on Node's allowlist and are what lib/net.js itself uses.
    const get = (process as unknown as { binding(name: string): unknown }).binding;
    const stream = get('stream_wrap') as Partial<StreamWrapBinding>;
    const tcp = (get('tcp_wrap') as { TCP?: abstract new () => unknown }).TCP;
    if (
      typeof stream.WriteWrap !== 'function' ||
      typeof stream.kLastWriteWasAsync !== 'number' ||
      stream.streamBaseState === undefined ||
      typeof tcp !== 'function' ||
      typeof (tcp.prototype as Partial<TcpHandle>).writeBuffer !== 'function'
    ) {
      return null;
    }
    return { stream: stream as StreamWrapBinding, tcp };
  } catch {
    return null;
  }
}

/** True when this Node offers what direct writes need (else every write goes through the stream). */
export const canWriteDirect = binding !== null;

/**
 * Where node reports whether the last write went asynchronous, held in constants: a load from a
 * constant typed array at a constant index compiles to one instruction, while going through the
 * binding object each time was a megamorphic keyed load (callgrind).
 */
const WRITE_STATE = binding?.stream.streamBaseState ?? new Int32Array(1);
const LAST_WRITE_WAS_ASYNC = binding?.stream.kLastWriteWasAsync ?? 0;

/**
 * One socket's writer. `write` returns false when the bytes could not all go to the kernel at once:
 * the caller stops producing until the socket's 'drain' event, as with net.Socket#write.
 */
export class SocketWriter {
  /** Writes handed to libuv that it has not finished yet. */
  private queued = 0;
  /** A write returned false: 'drain' is owed once everything queued is out. */
  private owesDrain = false;
  /**
   * The request object for the next write. libuv only takes it over when the write cannot finish at
   * once (then it is replaced); a write that does finish leaves it untouched, so one serves them all.
   */
  private request: WriteRequest | null = null;
  private readonly handle: TcpHandle | null;

  constructor(
    private readonly socket: net.Socket,
    isEnabled = canWriteDirect,
  ) {
    const h = (socket as unknown as { _handle: unknown })._handle;
    this.handle = isEnabled && binding !== null && h instanceof binding.tcp ? (h as TcpHandle) : null;
  }

  /** Nothing of what was written is still waiting to reach the kernel (the written bytes may be reused). */
  get isIdle(): boolean {
    return this.queued === 0 && this.socket.writableLength === 0;
  }

  write(data: Buffer): boolean {
    const socket = this.socket;
    const handle = this.handle;
    if (
      handle === null ||
      (socket as unknown as { _handle: unknown })._handle !== handle ||
      socket.writableLength !== 0 ||
      socket.writableEnded ||
      socket.destroyed ||
      socket.connecting
    ) {
      return socket.write(data);
    }
    const req = this.request ?? this.newRequest();
    const err = handle.writeBuffer(req, data);
    if (err !== 0) {
      // As net.Socket reports a failed write: the socket is destroyed with the error.
      socket.destroy(writeError(err));
      return false;
    }
    if (WRITE_STATE[LAST_WRITE_WAS_ASYNC] === 0) return true;
    // libuv holds the request and the bytes until the kernel takes the rest.
    req.buffer = data;
    this.request = null;
    this.queued++;
    this.owesDrain = true;
    return false;
  }

  private newRequest(): WriteRequest {
    const req = new binding!.stream.WriteWrap();
    req.handle = this.handle;
    req.oncomplete = onWriteComplete;
    req.writer = this;
    req.buffer = null;
    this.request = req;
    return req;
  }

  /** A queued write finished (or failed). */
  onQueuedWrite(status: number): void {
    this.queued--;
    if (status < 0) {
      this.socket.destroy(writeError(status));
      return;
    }
    if (this.queued === 0 && this.owesDrain && !this.socket.destroyed) {
      this.owesDrain = false;
      this.socket.emit('drain');
    }
  }
}

/** Called by libuv (through node) with the request as `this`. */
function onWriteComplete(this: WriteRequest, status: number): void {
  const writer = this.writer!;
  this.writer = null;
  this.buffer = null;
  writer.onQueuedWrite(status);
}

function writeError(code: number): NodeJS.ErrnoException {
  const name = getSystemErrorName(code);
  const err: NodeJS.ErrnoException = new Error(`write ${name}`);
  err.code = name;
  err.errno = code;
  err.syscall = 'write';
  return err;
}
