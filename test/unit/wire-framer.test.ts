import { describe, expect, it } from 'vitest';
import {
  Disposition,
  type FrameHandler,
  Framer,
  InvalidLengthError,
  MessageTooLargeError,
} from '../../proxy/wire/framer.js';

function msg(type: string, body: Buffer | string): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.alloc(5 + b.length);
  out[0] = type.charCodeAt(0);
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
}

class Recorder implements FrameHandler {
  whole: string[] = [];
  streamed: Buffer[] = [];
  constructor(private readonly streamTypes = new Set<number>()) {}
  dispose(type: number): Disposition {
    return this.streamTypes.has(type) ? Disposition.Stream : Disposition.Whole;
  }
  onMessage(type: number, chunk: Buffer, start: number, end: number): void {
    this.whole.push(`${String.fromCharCode(type)}:${chunk.subarray(start + 5, end).toString()}`);
  }
  onForward(chunk: Buffer, start: number, end: number): void {
    this.streamed.push(Buffer.from(chunk.subarray(start, end)));
  }
}

const stream = Buffer.concat([
  msg('T', 'rowdesc'),
  msg('D', 'row-1'),
  msg('D', ''),
  msg('C', 'SELECT 2'),
  msg('Z', 'I'),
]);

describe('Framer', () => {
  it('delivers every message whole when they arrive in one chunk', () => {
    const r = new Recorder();
    new Framer(r, 1 << 20).push(stream);
    expect(r.whole).toEqual(['T:rowdesc', 'D:row-1', 'D:', 'C:SELECT 2', 'Z:I']);
  });

  it('delivers the same messages whatever the split point of two chunks', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new Recorder();
      const f = new Framer(r, 1 << 20);
      f.push(stream.subarray(0, cut));
      f.push(stream.subarray(cut));
      expect(r.whole, `cut at ${cut}`).toEqual(['T:rowdesc', 'D:row-1', 'D:', 'C:SELECT 2', 'Z:I']);
      expect(f.isAtBoundary).toBe(true);
    }
  });

  it('delivers the same messages when fed one byte at a time', () => {
    const r = new Recorder();
    const f = new Framer(r, 1 << 20);
    for (let i = 0; i < stream.length; i++) f.push(stream.subarray(i, i + 1));
    expect(r.whole).toEqual(['T:rowdesc', 'D:row-1', 'D:', 'C:SELECT 2', 'Z:I']);
  });

  it('streams chosen message types byte-exact at every split point without buffering them', () => {
    const D = 'D'.charCodeAt(0);
    const rows = stream.subarray(
      msg('T', 'rowdesc').length,
      stream.length - msg('C', 'SELECT 2').length - msg('Z', 'I').length,
    );
    for (let cut = 0; cut <= stream.length; cut++) {
      const r = new Recorder(new Set([D]));
      const f = new Framer(r, 1 << 20);
      f.push(stream.subarray(0, cut));
      f.push(stream.subarray(cut));
      expect(r.whole).toEqual(['T:rowdesc', 'C:SELECT 2', 'Z:I']);
      expect(Buffer.concat(r.streamed).equals(rows), `cut at ${cut}`).toBe(true);
    }
  });

  it('rejects a whole message longer than the limit, from its header alone', () => {
    const r = new Recorder();
    const f = new Framer(r, 100);
    const header = Buffer.from([0x51, 0, 0, 0x10, 0]);
    expect(() => f.push(header)).toThrow(MessageTooLargeError);
  });

  it('lets a streamed message exceed the limit', () => {
    const D = 'D'.charCodeAt(0);
    const r = new Recorder(new Set([D]));
    const big = msg('D', Buffer.alloc(1000, 1));
    new Framer(r, 100).push(big);
    expect(Buffer.concat(r.streamed).equals(big)).toBe(true);
  });

  it('rejects a length below 4 as invalid', () => {
    const f = new Framer(new Recorder(), 100);
    expect(() => f.push(Buffer.from([0x51, 0, 0, 0, 3]))).toThrow(InvalidLengthError);
  });

  it('hands out ranges of the chunk itself, not copies, for messages inside one chunk', () => {
    const ranges: [Buffer, number, number][] = [];
    const f = new Framer(
      {
        dispose: () => Disposition.Whole,
        onMessage: (_t, chunk, start, end) => ranges.push([chunk, start, end]),
        onForward: () => {},
      },
      1 << 20,
    );
    f.push(stream);
    expect(ranges[0]![0]).toBe(stream);
    expect(ranges.map(([, s, e]) => e - s)).toEqual([12, 10, 5, 13, 6]);
  });
});
