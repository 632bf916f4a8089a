// Builds protocol messages into exact-size buffers: a tiny serializer for the messages the proxy itself sends.

/** Accumulates fields of one message, then emits `type + int32 length + body`. */
export class MessageWriter {
  private parts: Buffer[] = [];
  private size = 0;

  int8(v: number): this {
    const b = Buffer.allocUnsafe(1);
    b.writeUInt8(v);
    return this.raw(b);
  }
  int16(v: number): this {
    const b = Buffer.allocUnsafe(2);
    b.writeInt16BE(v);
    return this.raw(b);
  }
  int32(v: number): this {
    const b = Buffer.allocUnsafe(4);
    b.writeInt32BE(v);
    return this.raw(b);
  }
  cstring(s: string): this {
    const b = Buffer.from(s + '\0', 'utf8');
    return this.raw(b);
  }
  raw(b: Buffer): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }
  /** Typed message: type byte, then length (which counts itself but not the type byte). */
  finish(type: number): Buffer {
    const out = Buffer.allocUnsafe(5 + this.size);
    out[0] = type;
    out.writeInt32BE(4 + this.size, 1);
    let off = 5;
    for (const p of this.parts) off += p.copy(out, off);
    return out;
  }
  /** Untyped startup-phase packet: length first. */
  finishUntyped(): Buffer {
    const out = Buffer.allocUnsafe(4 + this.size);
    out.writeInt32BE(4 + this.size, 0);
    let off = 4;
    for (const p of this.parts) off += p.copy(out, off);
    return out;
  }
}

/** Reads fields from a message body; throws `MalformedMessageError` instead of reading past the end. */
export class MessageReader {
  constructor(
    private readonly buf: Buffer,
    public pos: number,
    private readonly end: number = buf.length,
  ) {}

  get remaining(): number {
    return this.end - this.pos;
  }
  int8(): number {
    this.need(1);
    return this.buf.readUInt8(this.pos++);
  }
  int16(): number {
    this.need(2);
    const v = this.buf.readInt16BE(this.pos);
    this.pos += 2;
    return v;
  }
  int32(): number {
    this.need(4);
    const v = this.buf.readInt32BE(this.pos);
    this.pos += 4;
    return v;
  }
  cstring(): string {
    const nul = this.buf.indexOf(0, this.pos);
    if (nul < 0 || nul >= this.end) throw new MalformedMessageError('unterminated string');
    const s = this.buf.toString('utf8', this.pos, nul);
    this.pos = nul + 1;
    return s;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  rest(): Buffer {
    const b = this.buf.subarray(this.pos, this.end);
    this.pos = this.end;
    return b;
  }
  private need(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new MalformedMessageError('message shorter than its fields');
  }
}

export class MalformedMessageError extends Error {
  readonly code = 'MALFORMED_MESSAGE';
}
