// Collects the bytes bound for one socket during a read and writes them in one go, merging adjacent ranges.

/**
 * Relayed messages are usually ranges of the same received chunk, back to back; merging adjacent
 * ranges turns "RowDescription, DataRow..., CommandComplete, ReadyForQuery" into a single write of the
 * original bytes, with no copy. The open range is kept as (chunk, start, end) and becomes a Buffer
 * view only when something else is queued or at flush: no view per message.
 */
export class Outbox {
  private parts: Buffer[] = [];
  private rangeChunk: Buffer | null = null;
  private rangeStart = 0;
  private rangeEnd = 0;
  bytes = 0;

  /** Queue `chunk[start, end)`; the chunk must not change until the flush. */
  pushRange(chunk: Buffer, start: number, end: number): void {
    if (end <= start) return;
    this.bytes += end - start;
    if (chunk === this.rangeChunk && start === this.rangeEnd) {
      this.rangeEnd = end;
      return;
    }
    this.closeRange();
    this.rangeChunk = chunk;
    this.rangeStart = start;
    this.rangeEnd = end;
  }

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.closeRange();
    this.bytes += b.length;
    this.parts.push(b);
  }

  get isEmpty(): boolean {
    return this.rangeChunk === null && this.parts.length === 0;
  }

  /** Write everything; returns false when the socket asks us to wait for 'drain'. */
  flush(socket: { write(b: Buffer): boolean }): boolean {
    if (this.parts.length === 0) {
      const chunk = this.rangeChunk;
      if (chunk === null) return true;
      this.rangeChunk = null;
      this.bytes = 0;
      return socket.write(
        this.rangeStart === 0 && this.rangeEnd === chunk.length
          ? chunk
          : chunk.subarray(this.rangeStart, this.rangeEnd),
      );
    }
    this.closeRange();
    const parts = this.parts;
    this.parts = [];
    this.bytes = 0;
    if (parts.length === 1) return socket.write(parts[0]!);
    return socket.write(Buffer.concat(parts));
  }

  private closeRange(): void {
    const chunk = this.rangeChunk;
    if (chunk === null) return;
    this.rangeChunk = null;
    this.parts.push(chunk.subarray(this.rangeStart, this.rangeEnd));
  }
}
