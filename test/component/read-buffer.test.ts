// Reads into a reused buffer: every delivered chunk stays intact after later reads, on both socket sides.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  adoptReadBuffer,
  connectWithReadBuffer,
  ReadBuffer,
  setReadHandler,
} from '../../proxy/wire/read-buffer.js';

const servers: net.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function listen(onSocket: (s: net.Socket) => void): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer(onSocket);
    servers.push(server);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Small and large writes mixed, so chunks both under and over the copy limit arrive. */
function payloads(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 60; i++) out.push(randomBytes(i % 3 === 0 ? 150_000 : 1 + ((i * 37) % 3000)));
  return out;
}

/** Collects every chunk as delivered (no copy), and compares only at the end. */
function collect(socket: net.Socket): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  return new Promise((resolve, reject) => {
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('end', () => resolve(chunks));
    socket.on('error', reject);
  });
}

async function writeAll(socket: net.Socket, parts: Buffer[]): Promise<void> {
  for (const p of parts) {
    if (!socket.write(p)) await new Promise((r) => socket.once('drain', r));
    // Let the reader run between writes so several reads reuse the buffer.
    await new Promise((r) => setImmediate(r));
  }
  socket.end();
}

describe('ReadBuffer', () => {
  it('hands out chunks that later reads do not overwrite', () => {
    const reads = new ReadBuffer();
    reads.next()!.fill(1, 0, 10);
    const small = reads.take(10);
    reads.settle(false);
    reads.next()!.fill(2, 0, 10);
    const large = reads.take(10_000);
    reads.settle(false);
    reads.next()!.fill(3);
    expect(small.every((b) => b === 1)).toBe(true);
    expect(large.subarray(0, 10).every((b) => b === 2)).toBe(true);
  });

  it('hands out Buffers, with every Buffer method', () => {
    const reads = new ReadBuffer();
    reads.next()!.write('\u0000\u0000\u0001\u0002héllo', 'utf8');
    const chunk = reads.take(10);
    expect(Buffer.isBuffer(chunk)).toBe(true);
    expect(chunk).toBeInstanceOf(Buffer);
    expect(chunk.readInt32BE(0)).toBe(0x0102);
    expect(chunk.toString('utf8', 4)).toBe('héllo');
    expect(chunk.subarray(4, 5)).toBeInstanceOf(Buffer);
    expect(chunk.subarray(4, 5).toString()).toBe('h');
    expect(chunk.equals(Buffer.from('\u0000\u0000\u0001\u0002héllo'))).toBe(true);
    expect(Buffer.concat([chunk, chunk]).length).toBe(20);
    expect(chunk.toJSON().data.slice(0, 4)).toEqual([0, 0, 1, 2]);
  });

  it('reads into the same bytes again once a chunk is released, and only then', () => {
    const reads = new ReadBuffer();
    const first = reads.next()!;
    const a = reads.take(100);
    reads.settle(true);
    // Released: libuv keeps the buffer it has (nothing new to hand over), and the next chunk overlays the first.
    expect(reads.next()).toBeUndefined();
    const b = reads.take(50);
    expect(b.byteOffset).toBe(a.byteOffset);
    expect(b.buffer).toBe(first.buffer);
    reads.settle(false);
    // Kept: a new buffer for libuv, and the next read starts after the kept chunk.
    const next = reads.next();
    expect(next).toBeInstanceOf(Buffer);
    expect(next!.byteOffset).toBe(b.byteOffset + 50);
    expect(reads.next()).toBeUndefined();
    const c = reads.take(10);
    expect(c.byteOffset).toBe(b.byteOffset + 50);
  });
});

describe('a direct handler that releases its chunks', () => {
  it('gets the exact byte stream while every read lands on the same memory', async () => {
    const parts = payloads();
    const port = await listen((s) => void writeAll(s, parts));
    const socket = connectWithReadBuffer({ host: '127.0.0.1', port });
    const copies: Buffer[] = [];
    const offsets = new Set<number>();
    setReadHandler(socket, (c) => {
      copies.push(Buffer.from(c));
      offsets.add(c.byteOffset);
      return true;
    });
    await new Promise((r) => socket.once('end', r));
    expect(Buffer.concat(copies).equals(Buffer.concat(parts))).toBe(true);
    expect(copies.length).toBeGreaterThan(10);
    expect(offsets).toEqual(new Set([0]));
  });
});

describe('connectWithReadBuffer', () => {
  it('delivers the exact byte stream as data events that may be kept', async () => {
    const parts = payloads();
    const port = await listen((s) => void writeAll(s, parts));
    const socket = connectWithReadBuffer({ host: '127.0.0.1', port });
    const chunks = await collect(socket);
    expect(chunks.length).toBeGreaterThan(1);
    expect(Buffer.concat(chunks).equals(Buffer.concat(parts))).toBe(true);
  });
});

describe('adoptReadBuffer', () => {
  it('switches an accepted socket to the reused buffer on this Node version', async () => {
    const adopted = new Promise<boolean>((resolve) => {
      void listen((s) => {
        resolve(adoptReadBuffer(s));
        s.destroy();
      }).then((port) => net.connect({ host: '127.0.0.1', port }).on('error', () => {}));
    });
    expect(await adopted).toBe(true);
  });

  it('refuses a socket that already reads into a user buffer', async () => {
    const port = await listen((s) => s.destroy());
    const socket = connectWithReadBuffer({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    expect(adoptReadBuffer(socket)).toBe(false);
    socket.destroy();
  });

  it('delivers the exact byte stream of an accepted socket', async () => {
    const parts = payloads();
    let received: Promise<Buffer[]> | undefined;
    const port = await listen((s) => {
      adoptReadBuffer(s);
      received = collect(s);
    });
    const client = net.connect({ host: '127.0.0.1', port });
    await new Promise((r) => client.once('connect', r));
    await writeAll(client, parts);
    await new Promise((r) => setTimeout(r, 50));
    const chunks = await received!;
    expect(Buffer.concat(chunks).equals(Buffer.concat(parts))).toBe(true);
  });
});

describe('setReadHandler', () => {
  it('hands reads to the handler instead of data events, and back to data events when cleared', async () => {
    const first = randomBytes(2000);
    const second = randomBytes(3000);
    let peer: net.Socket | undefined;
    const port = await listen((s) => {
      peer = s;
      s.write(first);
    });
    const socket = connectWithReadBuffer({ host: '127.0.0.1', port });
    const viaEvents: Buffer[] = [];
    socket.on('data', (c: Buffer) => viaEvents.push(c));
    const viaHandler: Buffer[] = [];
    expect(
      setReadHandler(socket, (c) => {
        viaHandler.push(c);
        return false;
      }),
    ).toBe(true);
    await until(() => Buffer.concat(viaHandler).length === first.length);
    expect(Buffer.concat(viaHandler).equals(first)).toBe(true);
    expect(viaEvents).toEqual([]);

    setReadHandler(socket, null);
    peer!.end(second);
    expect(Buffer.concat(await collect(socket)).equals(second)).toBe(true);
    expect(Buffer.concat(viaHandler).length).toBe(first.length);
  });

  it('declines a socket that does not read into a ReadBuffer', async () => {
    const port = await listen((s) => s.destroy());
    const socket = net.connect({ host: '127.0.0.1', port }).on('error', () => {});
    expect(setReadHandler(socket, () => false)).toBe(false);
    socket.destroy();
  });
});

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
}
