// Reads a socket into arenas it owns (net.Socket `onread`) and still delivers ordinary 'data' events.

import net from 'node:net';

/** One allocation serves many reads: Node's own read size. */
const ARENA_SIZE = 64 * 1024;
/** A read gets at least this much room; with less left, the next read starts a new arena. */
const MIN_READ = 16 * 1024;

/**
 * The chunks handed out: views of an arena. Buffer#subarray reads the parent's `buffer` and
 * `byteOffset` through calls into C++ before it builds the view; knowing the arena's ArrayBuffer, a
 * view is one construction, half the cost (measured on Node 20: 45 ns against 21 ns, twice per
 * relayed round trip). Its prototype chain goes through Buffer.prototype, so it is a Buffer to
 * `Buffer.isBuffer`, `instanceof` and every Buffer method.
 */
class ArenaView extends Uint8Array {}
Object.setPrototypeOf(ArenaView.prototype, Buffer.prototype);

function newArena(): ArrayBuffer {
  // Not zero-filled: every byte handed out was read into first.
  return Buffer.allocUnsafeSlow(ARENA_SIZE).buffer as ArrayBuffer;
}

function view(arena: ArrayBuffer, start: number, length: number): Buffer {
  return new ArenaView(arena, start, length) as unknown as Buffer;
}

/**
 * By default every socket read allocates a fresh 64 KiB backing store, trims it, wraps it in a
 * Buffer and pushes it through the Readable stream machinery (which also schedules a nextTick to
 * read more). With `onread`, libuv reads into memory we hand it and calls us directly. We hand it
 * the free tail of an arena: each read lands right after the previous one, the chunk delivered is
 * a view of the arena, and by default no byte is written twice, so consumers may keep views into a
 * chunk (the framer and the outboxes do) without a copy. When the tail gets short, a new arena
 * starts; the old one lives as long as some view of it does.
 *
 * A direct handler may instead report that it let go of the chunk (nothing of it kept, everything
 * written out): the next read then lands on the same bytes. A relay that answers each read with one
 * complete write keeps reading into the same few hot cache lines, and needs no new view for libuv.
 */
export class ReadBuffer {
  private arena = newArena();
  private used = 0;
  private free: Buffer = view(this.arena, 0, ARENA_SIZE);
  /** Where the chunk last taken starts: `settle` moves back here when it is released. */
  private takenAt = 0;
  /**
   * Who gets each chunk directly; null: a 'data' event on the socket. Returning true promises that
   * no view of the chunk survives the call, so its bytes may be read into again.
   */
  handler: ((chunk: Buffer) => boolean | undefined) | null = null;

  /** The buffer libuv was last given (see `next`). */
  private given: Buffer | null = null;

  /**
   * For `onread.buffer`: called once at start and after every read. Returns undefined when libuv
   * already holds the buffer to read into next (the chunk was released): Node then leaves the
   * handle's buffer as it is instead of taking a new one's address and length through C++.
   */
  readonly next = (): Buffer | undefined => {
    if (this.free === this.given) return undefined;
    this.given = this.free;
    return this.free;
  };

  /** The `n` bytes just read into the buffer from `next()`; call `settle` before the next read. */
  take(n: number): Buffer {
    this.takenAt = this.used;
    this.used += n;
    return view(this.arena, this.takenAt, n);
  }

  /** After the chunk was consumed: reuse its bytes when released, else keep them and move past. */
  settle(isReleased: boolean): void {
    if (isReleased) {
      // `free` still starts at takenAt: the same view serves the next read.
      this.used = this.takenAt;
      return;
    }
    if (ARENA_SIZE - this.used < MIN_READ) {
      this.arena = newArena();
      this.used = 0;
    }
    this.free = view(this.arena, this.used, ARENA_SIZE - this.used);
  }
}

/**
 * net.connect() whose reads go through a ReadBuffer and come out as 'data' events, so the code
 * that consumes the socket (login, TLS negotiation, the relay) is the same as with a default socket.
 * A TLS session layered on this socket later reads the handle itself and is unaffected.
 */
export function connectWithReadBuffer(opts: { host: string; port: number }): net.Socket {
  const reads = new ReadBuffer();
  const socket: net.Socket = net.connect({
    host: opts.host,
    port: opts.port,
    noDelay: true,
    // Node's typing wants a Uint8Array from the function; lib/net.js also accepts anything else
    // after the first call and then keeps the current buffer (see ReadBuffer.next).
    onread: { buffer: reads.next as () => Uint8Array, callback: (n: number) => emitRead(socket, reads, n) },
  });
  readBuffers.set(socket, reads);
  return socket;
}

/** The internal slots behind net.Socket's `onread` option (lib/net.js, Node 12 to 24). */
const ONREAD_SLOTS = ['kBuffer', 'kBufferCb', 'kBufferGen'] as const;

interface UserBufferHandle {
  useUserBuffer(buffer: Uint8Array): void;
}

/**
 * The same reads for a socket the server accepted. net.Server offers no `onread` option, so this
 * fills the three slots net.Socket's constructor would have filled from it and switches the handle
 * to the user buffer, exactly what the constructor does. Any doubt (another Node version lays the
 * socket out differently, a TLS wrap already owns the handle) leaves the socket as it is: ordinary
 * 'data' events then, and the same behaviour. Must run before the first read is delivered, i.e. in
 * the 'connection' callback. Returns whether the socket now reads into a ReadBuffer.
 */
export function adoptReadBuffer(socket: net.Socket): boolean {
  const own = Object.getOwnPropertySymbols(socket);
  const slots = ONREAD_SLOTS.map((name) => own.find((s) => s.description === name));
  const handle = (socket as unknown as { _handle: Partial<UserBufferHandle> | null })._handle;
  if (slots.some((s) => s === undefined) || typeof handle?.useUserBuffer !== 'function') return false;
  const record = socket as unknown as Record<symbol, unknown>;
  const [kBuffer, kBufferCb, kBufferGen] = slots as [symbol, symbol, symbol];
  // Unset slots are null: anything else means someone already gave this socket a buffer.
  if (record[kBuffer] !== null || record[kBufferCb] !== null || record[kBufferGen] !== null) return false;
  const reads = new ReadBuffer();
  const first = reads.next()!;
  record[kBuffer] = first;
  record[kBufferGen] = reads.next;
  record[kBufferCb] = (n: number) => emitRead(socket, reads, n);
  handle.useUserBuffer(first);
  readBuffers.set(socket, reads);
  return true;
}

/**
 * The ReadBuffer of each socket set up by connectWithReadBuffer or adoptReadBuffer. A WeakMap, not
 * a property: a new property would give these sockets a hidden class of their own, and Node's
 * stream code that every socket goes through would see one more shape.
 */
const readBuffers = new WeakMap<net.Socket, ReadBuffer>();

/**
 * Hand the socket's reads straight to `handler` instead of emitting 'data' (null: back to 'data').
 * EventEmitter.emit is shared by every emitter in the process, so its property loads are
 * megamorphic; a relay pays that twice per round trip for nothing. Returns false when the socket
 * does not read into a ReadBuffer: the caller listens for 'data' then.
 */
export function setReadHandler(
  socket: net.Socket,
  handler: ((chunk: Buffer) => boolean | undefined) | null,
): boolean {
  const reads = readBuffers.get(socket);
  if (reads === undefined) return false;
  reads.handler = handler;
  return true;
}

/**
 * `handler` gets every chunk the socket reads: directly when it reads into a ReadBuffer, else as
 * 'data' events. It returns true when it kept nothing of the chunk (see ReadBuffer.handler).
 */
export function onReads(socket: net.Socket, handler: (chunk: Buffer) => boolean | undefined): void {
  if (!setReadHandler(socket, handler)) socket.on('data', handler);
}

function emitRead(socket: net.Socket, reads: ReadBuffer, n: number): boolean {
  const chunk = reads.take(n);
  const handler = reads.handler;
  let isReleased = false;
  try {
    if (handler !== null) isReleased = handler(chunk) === true;
    else socket.emit('data', chunk);
  } finally {
    // Also when the handler threw: the chunk is then kept, never read into again.
    reads.settle(isReleased);
  }
  // Keep reading; pause() still stops the handle (net.Socket checks for a user buffer there).
  return true;
}
