// The startup phase of one client: SSL/GSS negotiation, CancelRequest, StartupMessage, authentication.

import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import { computeTlsServerEndPoint } from './auth/channel-binding.js';
import { verifyMd5Response } from './auth/md5.js';
import { ScramServer } from './auth/scram-server.js';
import { ByteReader } from './byte-reader.js';
import { ProxyError, SqlState } from './errors.js';
import {
  AUTH_OK,
  authCleartext,
  authMd5,
  authSasl,
  authSaslContinue,
  authSaslFinal,
  negotiateProtocolVersion,
} from './wire/backend-messages.js';
import { Frontend, MAX_STARTUP_PACKET_LENGTH } from './wire/codes.js';
import { parseOptionsParameter, parseStartupPacket, UnsupportedOptionError } from './wire/startup.js';
import { MessageReader } from './wire/writer.js';

export type AuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface UserEntry {
  name: string;
  password: string | null;
  auth: AuthMethod;
  /** SCRAM verifier, computed once per password (4096 PBKDF2 rounds is too dear per login). */
  scramVerifier: string | null;
}

export interface StartupDeps {
  findUser(name: string): UserEntry | undefined;
  tls: { context: tls.SecureContext; isRequired: boolean } | null;
  onCancel(pid: number, secret: number): void;
  /** One value for the life of the process, so mock SCRAM salts are stable per unknown user. */
  mockSecret: Buffer;
}

export type StartupOutcome =
  | {
      kind: 'session';
      socket: net.Socket | tls.TLSSocket;
      user: UserEntry;
      database: string;
      params: Map<string, string>;
      rest: Buffer;
    }
  | { kind: 'cancel' };

/** Longest SASL/password message we accept (PostgreSQL: PG_MAX_AUTH_TOKEN_LENGTH, 65535). */
const MAX_AUTH_MESSAGE = 65_535;

function fatal(code: string, sqlState: string, message: string): ProxyError {
  return new ProxyError(code, sqlState, message, 'FATAL');
}

/**
 * Runs the exchange up to (but excluding) AuthenticationOk's follow-up: the caller still owes the
 * client ParameterStatus, BackendKeyData and ReadyForQuery, which need a server's answers.
 */
export async function runClientStartup(socket: net.Socket, deps: StartupDeps): Promise<StartupOutcome> {
  let current: net.Socket | tls.TLSSocket = socket;
  /** tls-server-end-point data of the certificate this client was shown; enables SCRAM-SHA-256-PLUS. */
  let channelBinding: Buffer | undefined;
  const reader = new ByteReader(socket);
  try {
    for (;;) {
      const packet = parseStartupPacket(await reader.untyped(MAX_STARTUP_PACKET_LENGTH));
      switch (packet.kind) {
        case 'cancel':
          deps.onCancel(packet.pid, packet.secret);
          reader.detach();
          return { kind: 'cancel' };
        case 'gssenc-request':
          current.write('N');
          continue;
        case 'ssl-request': {
          if (!deps.tls || current instanceof tls.TLSSocket) {
            current.write('N');
            continue;
          }
          // Bytes after SSLRequest but before the handshake would be read as if encrypted (CVE-2021-23214).
          if (reader.hasBuffered) {
            throw fatal(
              'UNENCRYPTED_DATA_AFTER_SSL_REQUEST',
              SqlState.ProtocolViolation,
              'received unencrypted data after SSL request',
            );
          }
          current.write('S');
          const secure = await upgradeToTls(socket, deps.tls.context, reader);
          current = secure;
          channelBinding = readOwnEndPoint(secure);
          continue;
        }
        case 'startup': {
          if (packet.major !== 3) {
            throw fatal(
              'UNSUPPORTED_PROTOCOL',
              SqlState.FeatureNotSupported,
              `unsupported frontend protocol ${packet.major}.${packet.minor}: server supports 3.0 to 3.0`,
            );
          }
          const unknown = [...packet.params.keys()].filter((k) => k.startsWith('_pq_.'));
          if (packet.minor > 0 || unknown.length > 0) current.write(negotiateProtocolVersion(0, unknown));
          for (const k of unknown) packet.params.delete(k);
          if (deps.tls?.isRequired && !(current instanceof tls.TLSSocket)) {
            // 28000, as PostgreSQL answers a client that no hostssl-only pg_hba.conf line admits.
            throw new ProxyError(
              'TLS_REQUIRED',
              SqlState.InvalidAuthorizationSpecification,
              'pgroute: TLS is required for every connection (no encryption requested)',
              'FATAL',
              undefined,
              'Connect with sslmode=require (or verify-full).',
            );
          }
          const userName = packet.params.get('user');
          if (!userName) {
            throw fatal(
              'NO_USER',
              SqlState.InvalidAuthorizationSpecification,
              'no PostgreSQL user name specified in startup packet',
            );
          }
          if (packet.params.has('replication') && packet.params.get('replication') !== 'false') {
            throw fatal(
              'REPLICATION_UNSUPPORTED',
              SqlState.FeatureNotSupported,
              'pgroute does not accept replication connections',
            );
          }
          const params = expandOptions(packet.params);
          const database = packet.params.get('database') || userName;
          const user = await authenticate(current, reader, userName, deps, channelBinding);
          reader.detach();
          return { kind: 'session', socket: current, user, database, params, rest: reader.takeRest() };
        }
      }
    }
  } catch (err) {
    reader.detach();
    // Like a backend exiting after FATAL: send the error, then close outright. A bare end() would wait
    // for the client's FIN on a socket the reader just paused, and a client that waits for us to close
    // (node-postgres does) would hold the connection, and with it the listener's shutdown, forever.
    if (err instanceof ProxyError && !current.destroyed) {
      const socket = current;
      socket.end(err.toMessage(), () => socket.destroy());
    } else current.destroy();
    throw err;
  }
}

function expandOptions(params: Map<string, string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [k, v] of params) {
    if (k === 'user' || k === 'database' || k === 'replication') continue;
    if (k === 'options') {
      try {
        for (const [ok, ov] of parseOptionsParameter(v)) out.set(ok, ov);
      } catch (err) {
        if (err instanceof UnsupportedOptionError)
          throw fatal(err.code, SqlState.FeatureNotSupported, err.message);
        throw err;
      }
      continue;
    }
    out.set(k.toLowerCase(), v);
  }
  return out;
}

async function upgradeToTls(
  socket: net.Socket,
  context: tls.SecureContext,
  reader: ByteReader,
): Promise<tls.TLSSocket> {
  const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: context });
  reader.switchTo(secure);
  secure.resume();
  await new Promise<void>((resolve, reject) => {
    secure.once('secure', resolve);
    secure.once('error', reject);
    secure.once('close', () => reject(new Error('client closed during TLS handshake')));
  });
  return secure;
}

/**
 * The binding of the certificate we presented (RFC 5929 section 4.1), read back from the socket so it
 * is the one this handshake used even if the files were reloaded meanwhile. A certificate whose
 * signature names no hash (Ed25519) has no binding: then only plain SCRAM-SHA-256 is offered, as
 * PostgreSQL does when it cannot compute one.
 */
function readOwnEndPoint(socket: tls.TLSSocket): Buffer | undefined {
  const raw = (socket.getCertificate() as tls.PeerCertificate | null)?.raw;
  if (!raw) return undefined;
  try {
    return computeTlsServerEndPoint(raw);
  } catch {
    return undefined;
  }
}

async function readPassword(reader: ByteReader): Promise<Buffer> {
  const msg = await reader.typed(MAX_AUTH_MESSAGE);
  if (msg[0] !== Frontend.PasswordMessage) {
    throw fatal(
      'EXPECTED_PASSWORD',
      SqlState.ProtocolViolation,
      `expected password response, got message type ${msg[0]}`,
    );
  }
  return msg;
}

function authFailed(user: string): ProxyError {
  return fatal('AUTH_FAILED', SqlState.InvalidPassword, `password authentication failed for user "${user}"`);
}

async function authenticate(
  socket: net.Socket | tls.TLSSocket,
  reader: ByteReader,
  userName: string,
  deps: StartupDeps,
  channelBinding: Buffer | undefined,
): Promise<UserEntry> {
  const user = deps.findUser(userName);
  const method: AuthMethod = user?.auth ?? 'scram-sha-256';
  if (user && method === 'trust') {
    socket.write(AUTH_OK);
    return user;
  }
  if (method === 'password') {
    socket.write(authCleartext());
    const msg = await readPassword(reader);
    const given = new MessageReader(msg, 5).cstring();
    if (!user || user.password === null || given !== user.password) throw authFailed(userName);
    socket.write(AUTH_OK);
    return user;
  }
  if (method === 'md5') {
    const salt = randomBytes(4);
    socket.write(authMd5(salt));
    const msg = await readPassword(reader);
    const response = new MessageReader(msg, 5).cstring();
    if (
      !user ||
      user.password === null ||
      !verifyMd5Response({
        user: userName,
        secret: { kind: 'plaintext', password: user.password },
        salt,
        response,
      })
    )
      throw authFailed(userName);
    socket.write(AUTH_OK);
    return user;
  }
  // SCRAM-SHA-256; unknown users run a mock exchange so they cannot be told apart (as PostgreSQL does).
  // Over TLS, SCRAM-SHA-256-PLUS is offered too (also in the mock exchange, which must look the same).
  const server =
    user?.scramVerifier && user.auth === 'scram-sha-256'
      ? new ScramServer({ verifier: user.scramVerifier, username: userName, channelBinding })
      : ScramServer.mock(userName, { mockSecret: deps.mockSecret, channelBinding });
  socket.write(authSasl(server.mechanisms));
  const first = new MessageReader(await readPassword(reader), 5);
  const mechanism = first.cstring();
  const len = first.int32();
  const data = len >= 0 ? first.bytes(len) : Buffer.alloc(0);
  const r1 = server.handleClientFirst(mechanism, data);
  if (!r1.ok) throw fatal('AUTH_PROTOCOL', r1.error.sqlState, r1.error.message);
  socket.write(authSaslContinue(r1.serverFirst));
  const final = new MessageReader(await readPassword(reader), 5).rest();
  const r2 = server.handleClientFinal(final);
  if (!r2.ok) {
    if (r2.error.sqlState === SqlState.InvalidPassword || !user) throw authFailed(userName);
    throw fatal('AUTH_PROTOCOL', r2.error.sqlState, r2.error.message);
  }
  socket.write(authSaslFinal(r2.serverFinal));
  socket.write(AUTH_OK);
  return user!;
}
