// SCRAM exchanges between ScramClient and ScramServer: the RFC 7677 example, round trips, channel binding and every failure.

import { describe, expect, it } from 'vitest';
import { buildScramVerifier, parseScramVerifier } from '../../proxy/auth/scram.js';
import { ScramClient, type ScramClientOptions } from '../../proxy/auth/scram-client.js';
import {
  ScramMechanismError,
  ScramNonceMismatchError,
  ScramServerMessageError,
  ScramServerRejectedError,
  ScramServerSignatureError,
  ScramStateError,
} from '../../proxy/auth/scram-client-error.js';
import {
  type ClientFinalResult,
  ScramServer,
  type ScramServerOptions,
} from '../../proxy/auth/scram-server.js';

/** CREATE ROLE x PASSWORD 'p' on PostgreSQL 15.18, then SELECT rolpassword FROM pg_authid. */
const PG_VERIFIER_P =
  'SCRAM-SHA-256$4096:ILpvWjZXzWCdCJXj+y899g==$G6My2lg+VDSHmnvm8d1RwyOyYpAkxqRo4bFN2UU4Spc=:x8qPv9E6zzN0m3wgeRF9Hh/JjqNXgooi3DoymLWeKAw=';

/** RFC 7677 section 3. */
const RFC = {
  clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
  serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
  clientFinal:
    'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
  serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
};

const CERT_HASH = Buffer.alloc(32, 0xab);

function pgServer(options: Partial<ScramServerOptions> = {}): ScramServer {
  return new ScramServer({ verifier: PG_VERIFIER_P, ...options });
}

function runExchange(
  server: ScramServer,
  client: ScramClient,
  mechanisms = server.mechanisms,
): ClientFinalResult | { ok: false; error: { reason: string; sqlState: string } } {
  const { mechanism, clientFirst } = client.start(mechanisms);
  const first = server.handleClientFirst(mechanism, Buffer.from(clientFirst));
  if (!first.ok) return first;
  return server.handleClientFinal(Buffer.from(client.handleServerFirst(first.serverFirst)));
}

/** Runs the first step and returns the client-final-message for the test to tamper with. */
function startExchange(server: ScramServer, options: Partial<ScramClientOptions> = {}): string {
  const client = new ScramClient({ password: 'p', ...options } as ScramClientOptions);
  const { mechanism, clientFirst } = client.start(server.mechanisms);
  const first = server.handleClientFirst(mechanism, Buffer.from(clientFirst));
  if (!first.ok) throw new Error(first.error.message);
  return client.handleServerFirst(first.serverFirst);
}

function finalFailure(server: ScramServer, clientFinal: string) {
  const result = server.handleClientFinal(Buffer.from(clientFinal));
  if (result.ok) throw new Error('exchange unexpectedly succeeded');
  return result.error;
}

function firstFailure(clientFirst: string, mechanism = 'SCRAM-SHA-256', server = pgServer()) {
  const result = server.handleClientFirst(mechanism, Buffer.from(clientFirst));
  if (result.ok) throw new Error('client-first unexpectedly accepted');
  return result.error;
}

describe('RFC 7677 section 3 example', () => {
  it('has the client produce the exact client-first and client-final messages and accept the server signature', () => {
    const client = new ScramClient({
      username: 'user',
      password: 'pencil',
      createNonce: () => 'rOprNGfwEbeRWgbNEkqO',
    });
    expect(client.start(['SCRAM-SHA-256'])).toEqual({
      mechanism: 'SCRAM-SHA-256',
      clientFirst: RFC.clientFirst,
    });
    expect(client.handleServerFirst(RFC.serverFirst)).toBe(RFC.clientFinal);
    client.handleServerFinal(RFC.serverFinal);
    expect(client.isComplete).toBe(true);
  });

  it('has the server produce the exact server-first and server-final messages', () => {
    const salt = Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64');
    const server = new ScramServer({
      verifier: buildScramVerifier('pencil', { salt, iterations: 4096 }),
      createNonce: () => '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    });
    expect(server.handleClientFirst('SCRAM-SHA-256', Buffer.from(RFC.clientFirst))).toEqual({
      ok: true,
      serverFirst: RFC.serverFirst,
    });
    const final = server.handleClientFinal(Buffer.from(RFC.clientFinal));
    expect(final.ok && final.serverFinal).toBe(RFC.serverFinal);
    expect(server.isComplete).toBe(true);
  });
});

describe('client and server round trip', () => {
  it('authenticates against a verifier PostgreSQL produced, with random nonces', () => {
    const client = new ScramClient({ password: 'p' });
    const result = runExchange(pgServer(), client);
    expect(result.ok).toBe(true);
    if (result.ok && 'serverFinal' in result) client.handleServerFinal(result.serverFinal);
    expect(client.isComplete).toBe(true);
  });

  it('ignores the SCRAM user name, which PostgreSQL takes from the startup packet', () => {
    expect(runExchange(pgServer(), new ScramClient({ username: 'someone,else=', password: 'p' })).ok).toBe(
      true,
    );
  });

  it('fails a wrong password with 28P01 naming the startup user', () => {
    const result = runExchange(pgServer({ username: 'x' }), new ScramClient({ password: 'wrong' }));
    expect(result).toMatchObject({
      ok: false,
      error: {
        reason: 'invalid-password',
        sqlState: '28P01',
        message: 'password authentication failed for user "x"',
      },
    });
  });

  it('logs in to a second server with the ClientKey recovered from the first exchange (pass-through)', () => {
    const first = runExchange(pgServer(), new ScramClient({ password: 'p' }));
    if (!first.ok || !('clientKey' in first)) throw new Error('first exchange failed');
    const { serverKey } = parseScramVerifier(PG_VERIFIER_P)!;
    const client = new ScramClient({ clientKey: first.clientKey, serverKey });
    const second = runExchange(pgServer(), client);
    expect(second.ok).toBe(true);
    if (second.ok && 'serverFinal' in second) client.handleServerFinal(second.serverFinal);
    expect(client.isComplete).toBe(true);
  });
});

describe('server rejects malformed exchanges', () => {
  it('fails a tampered final nonce with 08P01', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(/,r=([^,]*)X?/, (_m, nonce: string) => `,r=${nonce}X`);
    expect(finalFailure(server, clientFinal)).toMatchObject({ reason: 'nonce-mismatch', sqlState: '08P01' });
  });

  it('fails a proof that is not base64 with 08P01', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(/,p=.*$/, ',p=!!!notbase64!!!');
    expect(finalFailure(server, clientFinal)).toMatchObject({
      reason: 'malformed-message',
      sqlState: '08P01',
    });
  });

  it('fails a proof of the wrong length with 08P01', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(/,p=.*$/, ',p=YWJj');
    expect(finalFailure(server, clientFinal)).toMatchObject({ sqlState: '08P01' });
  });

  it('fails a client-final without a proof with 08P01', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(/,p=.*$/, '');
    expect(finalFailure(server, clientFinal)).toMatchObject({
      reason: 'malformed-message',
      sqlState: '08P01',
    });
  });

  it('fails a client-final without the channel-binding attribute with 08P01', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(/^c=[^,]*,/, '');
    expect(finalFailure(server, clientFinal)).toMatchObject({
      reason: 'malformed-message',
      sqlState: '08P01',
    });
  });

  it('fails attributes after the proof with 08P01', () => {
    const server = pgServer();
    expect(finalFailure(server, `${startExchange(server)},x=1`)).toMatchObject({ sqlState: '08P01' });
  });

  it('accepts and ignores an extension between nonce and proof', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(',p=', ',x=ext,p=');
    // The extension is covered by AuthMessage, so the proof no longer matches: 28P01, not 08P01.
    expect(finalFailure(server, clientFinal)).toMatchObject({ reason: 'invalid-password' });
  });

  it('fails a client-first without a nonce with 08P01', () => {
    expect(firstFailure('n,,n=')).toMatchObject({ reason: 'malformed-message', sqlState: '08P01' });
  });

  it('fails a client-first without a user attribute with 08P01', () => {
    expect(firstFailure('n,,r=abc')).toMatchObject({ reason: 'malformed-message', sqlState: '08P01' });
  });

  it('fails a nonce with a non-printable character with 08P01', () => {
    expect(firstFailure('n,,n=,r=ab\u0001c')).toMatchObject({ sqlState: '08P01' });
  });

  it('fails an unknown channel-binding flag with 08P01', () => {
    expect(firstFailure('x,,n=,r=abc')).toMatchObject({ reason: 'malformed-message', sqlState: '08P01' });
  });

  it('fails an empty message with 08P01', () => {
    expect(firstFailure('')).toMatchObject({ reason: 'malformed-message', sqlState: '08P01' });
  });

  it('fails a message with an embedded NUL with 08P01', () => {
    expect(firstFailure('n,,n=,r=abc\0def')).toMatchObject({ sqlState: '08P01' });
  });

  it('fails an authorization identity with 0A000, as PostgreSQL does not support it', () => {
    expect(firstFailure('n,a=admin,n=,r=abc')).toMatchObject({
      reason: 'unsupported-feature',
      sqlState: '0A000',
    });
  });

  it('fails a mandatory extension with 0A000', () => {
    expect(firstFailure('n,,m=ext,n=,r=abc')).toMatchObject({
      reason: 'unsupported-feature',
      sqlState: '0A000',
    });
  });

  it('fails a mechanism that was not offered with 08P01', () => {
    expect(firstFailure('n,,n=,r=abc', 'SCRAM-SHA-256-PLUS')).toMatchObject({
      reason: 'invalid-mechanism',
      sqlState: '08P01',
    });
  });

  it('fails a client-final that arrives before the client-first with 08P01', () => {
    expect(finalFailure(pgServer(), RFC.clientFinal)).toMatchObject({ reason: 'unexpected-message' });
  });

  it('refuses every message after a failure', () => {
    const server = pgServer();
    firstFailure('', 'SCRAM-SHA-256', server);
    expect(firstFailure(RFC.clientFirst, 'SCRAM-SHA-256', server)).toMatchObject({
      reason: 'unexpected-message',
    });
  });
});

describe('unknown users and unusable secrets', () => {
  it('runs a mock exchange for an unknown user that fails only at the end, with 28P01', () => {
    const server = ScramServer.mock('ghost', { mockSecret: Buffer.from('s3cret') });
    const client = new ScramClient({ password: 'anything' });
    const { mechanism, clientFirst } = client.start(server.mechanisms);
    const first = server.handleClientFirst(mechanism, Buffer.from(clientFirst));
    expect(first.ok).toBe(true);
    if (!first.ok) return;
    const final = server.handleClientFinal(Buffer.from(client.handleServerFirst(first.serverFirst)));
    expect(final).toMatchObject({ ok: false, error: { reason: 'invalid-password', sqlState: '28P01' } });
  });

  it('gives an unknown user the same salt on every attempt and different users different salts', () => {
    const saltOf = (user: string) => {
      const result = ScramServer.mock(user, { mockSecret: Buffer.from('s3cret') }).handleClientFirst(
        'SCRAM-SHA-256',
        Buffer.from('n,,n=,r=abc'),
      );
      return result.ok ? /,s=([^,]+),/.exec(result.serverFirst)?.[1] : undefined;
    };
    expect(saltOf('ghost')).toBe(saltOf('ghost'));
    expect(saltOf('ghost')).not.toBe(saltOf('phantom'));
  });

  it('fails with 28P01 when the stored secret is an md5 hash, which SCRAM cannot use', () => {
    const server = new ScramServer({ verifier: 'md5b52328d7451bfeace80c4b8c338106f9' });
    expect(runExchange(server, new ScramClient({ password: 'secret' }))).toMatchObject({
      ok: false,
      error: { sqlState: '28P01' },
    });
  });
});

describe('channel binding (SCRAM-SHA-256-PLUS)', () => {
  it('offers SCRAM-SHA-256-PLUS first when the server has a certificate hash', () => {
    expect(pgServer({ channelBinding: CERT_HASH }).mechanisms).toEqual([
      'SCRAM-SHA-256-PLUS',
      'SCRAM-SHA-256',
    ]);
    expect(pgServer().mechanisms).toEqual(['SCRAM-SHA-256']);
  });

  it('authenticates with channel binding when both sides see the same certificate', () => {
    const client = new ScramClient({ password: 'p', channelBinding: CERT_HASH });
    expect(client.start(['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']).clientFirst).toMatch(
      /^p=tls-server-end-point,,/,
    );
    expect(
      runExchange(
        pgServer({ channelBinding: CERT_HASH }),
        new ScramClient({ password: 'p', channelBinding: CERT_HASH }),
      ).ok,
    ).toBe(true);
  });

  it('fails with 28000 when the client saw a different certificate (man in the middle)', () => {
    const client = new ScramClient({ password: 'p', channelBinding: Buffer.alloc(32, 0xcd) });
    expect(runExchange(pgServer({ channelBinding: CERT_HASH }), client)).toMatchObject({
      ok: false,
      error: { reason: 'channel-binding-mismatch', sqlState: '28000' },
    });
  });

  it('rejects "y" with 28000 when the server offered -PLUS but the client did not see it (downgrade)', () => {
    const client = new ScramClient({ password: 'p', channelBinding: CERT_HASH });
    expect(runExchange(pgServer({ channelBinding: CERT_HASH }), client, ['SCRAM-SHA-256'])).toMatchObject({
      ok: false,
      error: { reason: 'channel-binding-downgrade', sqlState: '28000' },
    });
  });

  it('accepts "y" from a client when the server cannot bind', () => {
    const client = new ScramClient({ password: 'p', channelBinding: CERT_HASH });
    expect(runExchange(pgServer(), client).ok).toBe(true);
  });

  it('accepts "n" from a client that cannot bind even when the server offered -PLUS', () => {
    expect(runExchange(pgServer({ channelBinding: CERT_HASH }), new ScramClient({ password: 'p' })).ok).toBe(
      true,
    );
  });

  it('fails SCRAM-SHA-256-PLUS without binding data in the message with 08P01', () => {
    const server = pgServer({ channelBinding: CERT_HASH });
    expect(firstFailure('n,,n=,r=abc', 'SCRAM-SHA-256-PLUS', server)).toMatchObject({ sqlState: '08P01' });
  });

  it('fails binding data under plain SCRAM-SHA-256 with 08P01', () => {
    const server = pgServer({ channelBinding: CERT_HASH });
    expect(firstFailure('p=tls-server-end-point,,n=,r=abc', 'SCRAM-SHA-256', server)).toMatchObject({
      sqlState: '08P01',
    });
  });

  it('fails a channel-binding type other than tls-server-end-point with 08P01', () => {
    const server = pgServer({ channelBinding: CERT_HASH });
    expect(firstFailure('p=tls-unique,,n=,r=abc', 'SCRAM-SHA-256-PLUS', server)).toMatchObject({
      sqlState: '08P01',
    });
  });

  it('fails a c= that does not repeat the client-first flag with 08P01', () => {
    const server = pgServer();
    const clientFinal = startExchange(server).replace(/^c=biws/, 'c=eSws');
    expect(finalFailure(server, clientFinal)).toMatchObject({
      reason: 'malformed-message',
      sqlState: '08P01',
    });
  });

  it('has the client refuse a server without -PLUS when channel binding is required', () => {
    const client = new ScramClient({ password: 'p', channelBinding: CERT_HASH, requireChannelBinding: true });
    expect(() => client.start(['SCRAM-SHA-256'])).toThrow(ScramMechanismError);
  });
});

describe('client rejects a misbehaving server', () => {
  function clientAfterFirst(): { client: ScramClient; nonce: string } {
    const client = new ScramClient({ password: 'p', createNonce: () => 'clientnonce' });
    client.start(['SCRAM-SHA-256']);
    return { client, nonce: 'clientnonce' };
  }

  it('throws a named error when the server signature does not match', () => {
    const { client } = clientAfterFirst();
    client.handleServerFirst('r=clientnonceSERVER,s=ILpvWjZXzWCdCJXj+y899g==,i=4096');
    expect(() => client.handleServerFinal(`v=${Buffer.alloc(32).toString('base64')}`)).toThrow(
      ScramServerSignatureError,
    );
    expect(client.isComplete).toBe(false);
  });

  it('throws the server error an e= attribute carries', () => {
    const { client } = clientAfterFirst();
    client.handleServerFirst('r=clientnonceSERVER,s=ILpvWjZXzWCdCJXj+y899g==,i=4096');
    expect(() => client.handleServerFinal('e=invalid-proof')).toThrow(ScramServerRejectedError);
  });

  it('throws when the server nonce does not start with the client nonce', () => {
    const { client } = clientAfterFirst();
    expect(() => client.handleServerFirst('r=othernonceSERVER,s=ILpvWjZXzWCdCJXj+y899g==,i=4096')).toThrow(
      ScramNonceMismatchError,
    );
  });

  it('throws when the server nonce adds nothing to the client nonce', () => {
    const { client } = clientAfterFirst();
    expect(() => client.handleServerFirst('r=clientnonce,s=ILpvWjZXzWCdCJXj+y899g==,i=4096')).toThrow(
      ScramNonceMismatchError,
    );
  });

  it('throws on an invalid iteration count or salt', () => {
    expect(() => clientAfterFirst().client.handleServerFirst('r=clientnonceS,s=ILpvWjZX,i=0')).toThrow(
      ScramServerMessageError,
    );
    expect(() => clientAfterFirst().client.handleServerFirst('r=clientnonceS,s=not*base64,i=4096')).toThrow(
      ScramServerMessageError,
    );
  });

  it('throws when a message arrives out of order', () => {
    const client = new ScramClient({ password: 'p' });
    expect(() => client.handleServerFinal(RFC.serverFinal)).toThrow(ScramStateError);
  });
});
