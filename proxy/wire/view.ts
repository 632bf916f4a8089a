// Buffer views for the relay's hot paths, made without TypedArray species lookups.

/**
 * `buf.subarray()` builds its result through TypedArraySpeciesCreate: it reads `constructor` and
 * `Symbol.species` with generic property loads and then calls `Buffer` as a constructor, which
 * forwards to `Buffer.from`. A relay makes several views per request (each read, each client message
 * kept for a retry), and that path costs two to three times a plain construction. Node's own
 * Buffers are instances of an internal Uint8Array subclass whose prototype chain leads to
 * Buffer.prototype; this is the same arrangement, so a view is a Buffer in every respect
 * (`Buffer.isBuffer`, every Buffer method, socket writes).
 */
class BufferView extends Uint8Array {}
Object.setPrototypeOf(BufferView.prototype, Buffer.prototype);

/**
 * The last buffer `view` was asked about, with its memory and offset: `buf.buffer` is a call into
 * C++ on every access, and the views of one read are all taken from the chunk of that read, itself
 * made by `viewOf`. Only small buffers are remembered, so a large one is never kept alive by this.
 */
let lastBuf: Buffer | null = null;
let lastMemory: ArrayBuffer = new ArrayBuffer(0);
let lastOffset = 0;
const REMEMBERED_MAX = 64 * 1024;

/** `length` bytes of `memory` from `offset`, as a Buffer; views of it are then cheap to make. */
export function viewOf(memory: ArrayBuffer, offset: number, length: number): Buffer {
  const buf = new BufferView(memory, offset, length) as unknown as Buffer;
  if (length <= REMEMBERED_MAX) {
    lastBuf = buf;
    lastMemory = memory;
    lastOffset = offset;
  }
  return buf;
}

/** `buf[start, end)` as a Buffer sharing its memory, like `buf.subarray(start, end)` for in-range bounds. */
export function view(buf: Buffer, start: number, end: number): Buffer {
  if (buf !== lastBuf) {
    const memory = buf.buffer as ArrayBuffer;
    const offset = buf.byteOffset;
    if (buf.length > REMEMBERED_MAX)
      return new BufferView(memory, offset + start, end - start) as unknown as Buffer;
    lastBuf = buf;
    lastMemory = memory;
    lastOffset = offset;
  }
  return new BufferView(lastMemory, lastOffset + start, end - start) as unknown as Buffer;
}
