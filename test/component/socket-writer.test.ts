// SocketWriter on real loopback sockets: exact bytes in order, backpressure and 'drain', errors, the stream fallback.
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { canWriteDirect, SocketWriter } from '../../proxy/wire/socket-writer.js';

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

/**
 * A connected pair: `local` is ours to write on, `peer` is the accepted end. `whileConnecting` runs
 * on `local` before its connection is established.
 */
async function pair(
  whileConnecting?: (local: net.Socket) => void,
): Promise<{ local: net.Socket; peer: net.Socket }> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once('connection', r));
  const local = net.connect({ host: '127.0.0.1', port });
  whileConnecting?.(local);
  await new Promise((r) => local.once('connect', r));
  const peer = await accepted;
  cleanup.push(() => {
    local.destroy();
    peer.destroy();
    server.close();
  });
  return { local, peer };
}

function received(peer: net.Socket, total: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  return new Promise((resolve) => {
    peer.on('data', (c: Buffer) => {
      chunks.push(c);
      n += c.length;
      if (n >= total) resolve(Buffer.concat(chunks));
    });
  });
}

/**
 * Writes 256 KiB blocks with `write` until it reports that the bytes could not all go out at once
 * (the peer is paused, so the socket buffers fill up); returns the blocks written.
 */
function fillUntilQueued(write: (b: Buffer) => boolean): Buffer[] {
  const parts: Buffer[] = [];
  let accepted = true;
  while (accepted && parts.length < 1000) {
    const p = randomBytes(256 * 1024);
    parts.push(p);
    accepted = write(p);
  }
  return parts;
}

function totalLength(parts: Buffer[]): number {
  return parts.reduce((n, p) => n + p.length, 0);
}

/** Resumes the paused `peer`; resolves true when it then received exactly `parts`, in order. */
async function receivesAfterResume(peer: net.Socket, parts: Buffer[]): Promise<boolean> {
  const got = received(peer, totalLength(parts));
  peer.resume();
  return (await got).equals(Buffer.concat(parts));
}

describe('SocketWriter', () => {
  it('can write to TCP handles directly on this Node version', () => {
    // The relay's fast path: if a Node upgrade removes what it needs, this says so (writes still work).
    expect(canWriteDirect).toBe(true);
  });

  for (const direct of [true, false]) {
    it(`delivers every byte in order, small writes and large (${direct ? 'direct' : 'through the stream'})`, async () => {
      const { local, peer } = await pair();
      const writer = new SocketWriter(local, direct);
      const parts = Array.from({ length: 200 }, (_, i) => randomBytes(i % 20 === 0 ? 300_000 : 1 + i * 7));
      const got = received(peer, totalLength(parts));
      for (const p of parts) writer.write(p);
      expect((await got).equals(Buffer.concat(parts))).toBe(true);
    });
  }

  it('reports backpressure when the kernel takes only part, holds the bytes, then emits drain', async () => {
    const { local, peer } = await pair();
    peer.pause();
    const writer = new SocketWriter(local);
    // Fill the socket buffers until a write cannot finish at once.
    const parts = fillUntilQueued((p) => writer.write(p));
    expect(parts.length).toBeLessThan(1000);
    expect(writer.isIdle).toBe(false);
    // The bytes wait in libuv, not in the socket's stream: the direct path took them.
    expect(local.writableLength).toBe(0);
    // Further writes queue behind, in order.
    const tail = randomBytes(1000);
    parts.push(tail);
    expect(writer.write(tail)).toBe(false);
    const drained = new Promise((r) => local.once('drain', r));
    const delivered = receivesAfterResume(peer, parts);
    await drained;
    expect(writer.isIdle).toBe(true);
    expect(await delivered).toBe(true);
  });

  it('keeps order with the stream when the stream has bytes queued', async () => {
    const { local, peer } = await pair();
    peer.pause();
    const writer = new SocketWriter(local);
    // The stream's own writes fill the buffers first and stay queued in it.
    const parts = fillUntilQueued((p) => local.write(p));
    expect(local.writableLength).toBeGreaterThan(0);
    const mine = randomBytes(5000);
    parts.push(mine);
    writer.write(mine);
    expect(await receivesAfterResume(peer, parts)).toBe(true);
  });

  it('destroys the socket with the write error when the peer is gone, without throwing', async () => {
    const { local, peer } = await pair();
    const errored = new Promise<NodeJS.ErrnoException>((r) => local.once('error', r));
    peer.resetAndDestroy();
    await new Promise((r) => setTimeout(r, 50));
    const writer = new SocketWriter(local);
    // The first write may still be accepted by the kernel before the reset is noticed.
    for (let i = 0; i < 10 && !local.destroyed; i++) writer.write(randomBytes(64 * 1024));
    const err = await errored;
    expect(local.destroyed).toBe(true);
    expect(['ECONNRESET', 'EPIPE']).toContain(err.code);
  });

  it('writes through the stream on a socket that is not connected yet', async () => {
    let wasConnecting = false;
    const { peer } = await pair((local) => {
      wasConnecting = local.connecting;
      new SocketWriter(local).write(Buffer.from('early'));
    });
    expect(wasConnecting).toBe(true);
    expect((await received(peer, 5)).toString()).toBe('early');
  });
});
