// The outbox: adjacent ranges of one chunk leave as one zero-copy write; everything else keeps its order.
import { describe, expect, it } from 'vitest';
import { Outbox } from '../../proxy/outbox.js';

function sink(): { writes: Buffer[]; write(b: Buffer): boolean } {
  const writes: Buffer[] = [];
  return { writes, write: (b) => writes.push(b) > 0 };
}

describe('Outbox', () => {
  it('writes back-to-back ranges of one chunk as a single view of that chunk', () => {
    const chunk = Buffer.from('TTTTDDDDDCCCZZ');
    const out = new Outbox();
    out.pushRange(chunk, 0, 4);
    out.pushRange(chunk, 4, 9);
    out.pushRange(chunk, 9, 14);
    const s = sink();
    out.flush(s);
    expect(s.writes).toHaveLength(1);
    expect(s.writes[0]!.toString()).toBe('TTTTDDDDDCCCZZ');
    chunk[0] = 0x78;
    expect(s.writes[0]![0]).toBe(0x78); // same memory: no copy was made
  });

  it('keeps the order of ranges, gaps and pushed buffers', () => {
    const a = Buffer.from('0123456789');
    const b = Buffer.from('abcdef');
    const out = new Outbox();
    out.pushRange(a, 0, 2);
    out.pushRange(a, 5, 7);
    out.push(Buffer.from('XY'));
    out.pushRange(b, 0, 3);
    out.pushRange(a, 7, 8);
    expect(out.bytes).toBe(10);
    const s = sink();
    out.flush(s);
    expect(Buffer.concat(s.writes).toString()).toBe('0156XYabc7');
  });

  it('is empty again after a flush and ignores empty ranges', () => {
    const out = new Outbox();
    out.pushRange(Buffer.from('abc'), 1, 1);
    expect(out.isEmpty).toBe(true);
    out.pushRange(Buffer.from('abc'), 0, 3);
    expect(out.isEmpty).toBe(false);
    const s = sink();
    out.flush(s);
    expect(out.isEmpty).toBe(true);
    expect(out.bytes).toBe(0);
    out.flush(s);
    expect(s.writes).toHaveLength(1);
  });
});
