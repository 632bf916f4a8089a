// Views made without subarray: real Buffers that share their source's memory.
import { describe, expect, it } from 'vitest';
import { view, viewOf } from '../../proxy/wire/view.js';

describe('view', () => {
  it('is a Buffer over the same bytes, like subarray', () => {
    const source = Buffer.from('0123456789abcdef');
    for (const [start, end] of [
      [0, 16],
      [3, 9],
      [16, 16],
    ] as const) {
      const v = view(source, start, end);
      expect(Buffer.isBuffer(v)).toBe(true);
      expect(v.equals(source.subarray(start, end))).toBe(true);
      expect(v.toString('latin1')).toBe(source.toString('latin1', start, end));
    }
    const v = view(source, 4, 8);
    v[0] = 0x41;
    expect(source[4]).toBe(0x41);
    expect(v.readUInt16BE(0)).toBe(source.readUInt16BE(4));
  });

  it('follows the source buffer, not the last one asked about', () => {
    // Node pools small allocations: these share one ArrayBuffer at different offsets.
    const a = Buffer.from('aaaaaaaa');
    const b = Buffer.from('bbbbbbbb');
    expect(view(a, 1, 3).toString()).toBe('aa');
    expect(view(b, 1, 3).toString()).toBe('bb');
    expect(view(a, 2, 4).toString()).toBe('aa');
    const big = Buffer.alloc(128 * 1024, 0x63);
    expect(view(big, 70_000, 70_002).toString()).toBe('cc');
  });

  it('views of a viewOf chunk start at its offset in the memory', () => {
    const memory = new ArrayBuffer(64);
    new Uint8Array(memory).set(Buffer.from('xxxxhello world'), 0);
    const chunk = viewOf(memory, 4, 11);
    expect(chunk.toString()).toBe('hello world');
    expect(view(chunk, 6, 11).toString()).toBe('world');
    expect(Buffer.concat([view(chunk, 0, 5), view(chunk, 5, 11)]).toString()).toBe('hello world');
  });
});
