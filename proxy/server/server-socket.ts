// The transport to a server: a TCP connection (reads into a ReadBuffer), then TLS when sslmode asks for it.

import net from 'node:net';
import tls from 'node:tls';
import { serialize } from 'pg-protocol';
import { computeTlsServerEndPoint } from '../auth/channel-binding.js';
import { connectWithReadBuffer } from '../wire/read-buffer.js';
import { ServerConnectError, type ServerConnectOptions } from './connect-options.js';

/** A TCP connection to the server, with keepalive, within the connect timeout. */
export function openSocket(opts: ServerConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectWithReadBuffer({ host: opts.host, port: opts.port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(
        new ServerConnectError('SERVER_CONNECT_TIMEOUT', `connect to ${opts.host}:${opts.port} timed out`),
      );
    }, opts.connectTimeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.removeAllListeners('error');
      socket.setKeepAlive(true, 30_000);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(
        new ServerConnectError(
          'SERVER_CONNECT_FAILED',
          `connect to ${opts.host}:${opts.port}: ${err.message}`,
        ),
      );
    });
  });
}

/** tls-server-end-point data of the server's certificate (RFC 5929), or undefined without TLS or a usable hash. */
export function readPeerEndPoint(socket: net.Socket): Buffer | undefined {
  if (!(socket instanceof tls.TLSSocket)) return undefined;
  const raw = socket.getPeerCertificate()?.raw;
  if (!raw) return undefined;
  try {
    return computeTlsServerEndPoint(raw);
  } catch {
    // Ed25519 and the like define no binding; plain SCRAM-SHA-256 then, as libpq does.
    return undefined;
  }
}

/**
 * SSLRequest, then a TLS handshake over the same socket if the server agrees (protocol 55.2.10).
 * sslmode means what it means to libpq (https://www.postgresql.org/docs/15/libpq-ssl.html#LIBPQ-SSL-SSLMODE-STATEMENTS).
 */
export function negotiateTls(socket: net.Socket, opts: ServerConnectOptions): Promise<net.Socket> {
  if (opts.sslmode === 'disable') return Promise.resolve(socket);
  const where = `${opts.host}:${opts.port}`;
  return new Promise((resolve, reject) => {
    let secure: tls.TLSSocket | null = null;
    const settle = (err: ServerConnectError | null, result?: net.Socket): void => {
      clearTimeout(timer);
      socket.off('data', onAnswer);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (err) {
        secure?.destroy();
        reject(err);
      } else resolve(result!);
    };
    const timer = setTimeout(
      () => settle(new ServerConnectError('SERVER_TLS_TIMEOUT', `TLS negotiation with ${where} timed out`)),
      opts.connectTimeoutMs,
    );
    const onClose = (): void =>
      settle(
        new ServerConnectError('SERVER_CLOSED', `${where} closed the connection during TLS negotiation`),
      );
    const onError = (err: Error): void =>
      settle(new ServerConnectError('SERVER_IO', `${where}: ${err.message}`));
    const onAnswer = (b: Buffer): void => {
      socket.off('data', onAnswer);
      if (b[0] === 0x4e /* N */ && b.length === 1) {
        if (opts.sslmode === 'prefer') settle(null, socket);
        else settle(new ServerConnectError('SERVER_TLS_REFUSED', `${where} does not accept TLS`));
        return;
      }
      // More than the one byte would be data injected before the handshake (CVE-2021-23222).
      if (b[0] !== 0x53 /* S */ || b.length !== 1) {
        settle(new ServerConnectError('SERVER_TLS_PROTOCOL', 'unexpected answer to SSLRequest'));
        return;
      }
      const verify = opts.sslmode === 'verify-ca' || opts.sslmode === 'verify-full';
      secure = tls.connect({
        socket,
        // The name checked against the certificate. SNI may only carry a DNS name (RFC 6066 section 3),
        // so an IP address is checked against the certificate's IP SANs without being sent.
        host: opts.host,
        ...(net.isIP(opts.host) === 0 ? { servername: opts.host } : {}),
        rejectUnauthorized: verify,
        ...(opts.ca ? { ca: opts.ca } : {}),
        // verify-ca checks the chain but not the host name (libpq semantics).
        ...(opts.sslmode === 'verify-ca' ? { checkServerIdentity: () => undefined } : {}),
      });
      const tlsSocket = secure;
      tlsSocket.once('secureConnect', () => {
        tlsSocket.removeAllListeners('error');
        settle(null, tlsSocket);
      });
      tlsSocket.once('error', (err) =>
        settle(new ServerConnectError('SERVER_TLS_FAILED', `TLS to ${where}: ${err.message}`)),
      );
    };
    socket.on('data', onAnswer);
    socket.once('close', onClose);
    socket.once('error', onError);
    socket.write(serialize.requestSsl());
  });
}
