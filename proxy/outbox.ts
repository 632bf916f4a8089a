// Collects the bytes bound for one socket during a read and writes them in one go, merging adjacent views.

/**
 * Relayed messages are usually views into the same received chunk, back to back; merging adjacent
 * views turns "RowDescription, DataRow..., CommandComplete, ReadyForQuery" into a single write of the
 * original bytes, with no copy.
 */
export class Outbox {
  private parts: Buffer[] = [];
  bytes = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.bytes += b.length;
    const last = this.parts[this.parts.length - 1];
    if (last && last.buffer === b.buffer && last.byteOffset + last.length === b.byteOffset) {
      this.parts[this.parts.length - 1] = Buffer.from(last.buffer, last.byteOffset, last.length + b.length);
      return;
    }
    this.parts.push(b);
  }

  get isEmpty(): boolean {
    return this.parts.length === 0;
  }

  /** Write everything; returns false when the socket asks us to wait for 'drain'. */
  flush(socket: { write(b: Buffer): boolean }): boolean {
    const parts = this.parts;
    if (parts.length === 0) return true;
    this.parts = [];
    this.bytes = 0;
    if (parts.length === 1) return socket.write(parts[0]!);
    return socket.write(Buffer.concat(parts));
  }
}
