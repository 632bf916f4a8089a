// Startup-phase negotiation with a raw socket: SSLRequest and GSSENCRequest answered 'N', newer protocol minors negotiated down.

import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MessageWriter } from '../../proxy/wire/writer.js';
import { sharedCluster } from '../harness/cluster.js';
import { startTestProxy, type TestProxy } from '../harness/proxy.js';

let tp: TestProxy;

beforeAll(async () => {
  tp = await startTestProxy(sharedCluster());
});

afterAll(async () => {
  await tp.stop();
});

/** Send `packets` one after the other, collecting bytes until `enough` says so or the socket closes. */
function converse(packets: Buffer[], enough: (got: Buffer) => boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const s = net.connect(tp.params({ mode: 'rw' }).port, '127.0.0.1');
    let got = Buffer.alloc(0);
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer; got ${got.toString('hex')}`));
    }, 5000);
    const finish = (): void => {
      clearTimeout(timer);
      s.destroy();
      resolve(got);
    };
    s.on('connect', () => {
      for (const p of packets) s.write(p);
    });
    s.on('data', (d) => {
      got = Buffer.concat([got, d]);
      if (enough(got)) finish();
    });
    s.on('close', finish);
    s.on('error', finish);
  });
}

const startup = (minor: number, extra: [string, string][] = []): Buffer => {
  const w = new MessageWriter()
    .int32((3 << 16) | minor)
    .cstring('user')
    .cstring('app')
    .cstring('database')
    .cstring('app');
  for (const [k, v] of extra) w.cstring(k).cstring(v);
  return w.int8(0).finishUntyped();
};

describe('startup negotiation', () => {
  it("answers SSLRequest with 'N' when TLS is not configured, then accepts the startup", async () => {
    const ssl = new MessageWriter().int32(80877103).finishUntyped();
    const got = await converse([ssl], (b) => b.length >= 1);
    expect(got.toString('latin1')).toBe('N');
  });

  it("answers GSSENCRequest with 'N'", async () => {
    const gss = new MessageWriter().int32(80877104).finishUntyped();
    const got = await converse([gss], (b) => b.length >= 1);
    expect(got.toString('latin1')).toBe('N');
  });

  it('negotiates protocol 3.2 with _pq_ options down to 3.0, then asks for authentication', async () => {
    const got = await converse([startup(2, [['_pq_.future_option', 'x']])], (b) => b.includes(0x52));
    expect(got[0]).toBe(0x76); // NegotiateProtocolVersion
    const newest = got.readInt32BE(5);
    expect(newest).toBe(3 << 16);
    expect(got.readInt32BE(9)).toBe(1);
    expect(got.toString('latin1', 13, 13 + '_pq_.future_option'.length)).toBe('_pq_.future_option');
    const auth = got.indexOf(0x52, 1 + got.readInt32BE(1));
    expect(auth).toBeGreaterThan(0);
  });

  it('refuses protocol 2.0 with 0A000', async () => {
    const v2 = new MessageWriter()
      .int32(2 << 16)
      .cstring('user')
      .cstring('app')
      .int8(0)
      .finishUntyped();
    const got = await converse([v2], () => false);
    expect(got[0]).toBe(0x45);
    expect(got.toString('latin1')).toContain('0A000');
  });

  it('refuses a startup packet without a user with 28000', async () => {
    const noUser = new MessageWriter()
      .int32(3 << 16)
      .cstring('database')
      .cstring('app')
      .int8(0)
      .finishUntyped();
    const got = await converse([noUser], () => false);
    expect(got.toString('latin1')).toContain('28000');
  });

  it('refuses a startup packet longer than PostgreSQL accepts', async () => {
    const huge = Buffer.alloc(20_000);
    huge.writeInt32BE(20_000, 0);
    huge.writeInt32BE(3 << 16, 4);
    const got = await converse([huge], () => false);
    expect(got.toString('latin1')).toContain('08P01');
  });
});
