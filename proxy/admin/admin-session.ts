// One admin console connection (`psql -d pgroute`): speaks the simple Query protocol and answers admin commands.
//
// The caller has authenticated the client and sent AuthenticationOk; from there this follows the protocol's
// normal start-up and simple query flows (PostgreSQL docs, "Message Flow", 55.2.1 and 55.2.2).

import type net from 'node:net';
import { ProxyError, SqlState } from '../errors.js';
import {
  backendKeyData,
  commandComplete,
  dataRow,
  EMPTY_QUERY_RESPONSE,
  noticeResponse,
  parameterStatus,
  readyForQuery,
  rowDescription,
} from '../wire/backend-messages.js';
import { Frontend } from '../wire/codes.js';
import { Disposition, Framer } from '../wire/framer.js';
import {
  type AdminControls,
  parseAdminCommand,
  runAdminCommand,
  splitStatements,
  UnknownAdminCommandError,
} from './admin-commands.js';

export interface AdminLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AdminDeps extends AdminControls {
  log: AdminLog;
  /** Largest message accepted from the console client; queries are short. Default 1 MiB. */
  maxMessageSize?: number;
}

/** Reported at start-up like a server would; psql reads server_version to pick its features. */
const STARTUP_PARAMETERS: [string, string][] = [
  ['server_version', '15.0 (pgroute)'],
  ['client_encoding', 'UTF8'],
  ['server_encoding', 'UTF8'],
  ['DateStyle', 'ISO'],
  ['standard_conforming_strings', 'on'],
  ['integer_datetimes', 'on'],
];

/** Extended-query messages: the console does not implement them. */
const EXTENDED = new Set<number>([
  Frontend.Parse,
  Frontend.Bind,
  Frontend.Describe,
  Frontend.Execute,
  Frontend.Close,
  Frontend.FunctionCall,
]);

/** CopyData/CopyDone/CopyFail outside COPY are ignored, as PostgreSQL does (postgres.c). */
const IGNORED = new Set<number>([Frontend.CopyData, Frontend.CopyDone, Frontend.CopyFail, Frontend.Flush]);

export class AdminSession {
  private readonly framer: Framer;
  /** Messages are handled one at a time, in order, even when one of them (RELOAD) is asynchronous. */
  private chain: Promise<void> = Promise.resolve();
  /** After an error in an extended-query message, everything up to Sync is discarded (protocol 55.2.3). */
  private isSkippingToSync = false;
  private isClosed = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly user: string,
    private readonly deps: AdminDeps,
  ) {
    this.framer = new Framer(
      {
        dispose: () => Disposition.Whole,
        // The framer's buffer is only valid during the call: copy before queueing.
        onMessage: (type, chunk, start, end) => this.enqueue(type, Buffer.from(chunk.subarray(start, end))),
        onForward: () => {},
      },
      deps.maxMessageSize ?? 1 << 20,
    );
  }

  start(rest: Buffer): void {
    const out: Buffer[] = STARTUP_PARAMETERS.map(([k, v]) => parameterStatus(k, v));
    // No cancel key: there is nothing long-running to cancel.
    out.push(backendKeyData(0, 0), readyForQuery('I'));
    this.socket.write(Buffer.concat(out));
    this.socket.on('data', (chunk: Buffer) => this.push(chunk));
    // The caller may have paused the socket while it authenticated.
    this.socket.resume();
    this.socket.on('error', () => this.close());
    this.socket.on('close', () => {
      this.isClosed = true;
    });
    this.deps.log.info({ event: 'admin-connected', user: this.user }, 'admin console client connected');
    if (rest.length > 0) this.push(rest);
  }

  private push(chunk: Buffer): void {
    if (this.isClosed) return;
    try {
      this.framer.push(chunk);
    } catch (err) {
      this.fail(
        new ProxyError('ADMIN_PROTOCOL', SqlState.ProtocolViolation, (err as Error).message, 'FATAL'),
      );
    }
  }

  private enqueue(type: number, msg: Buffer): void {
    this.chain = this.chain
      .then(() => this.handle(type, msg))
      .catch((err: unknown) => {
        this.deps.log.warn({ event: 'admin-failed', err: String(err) }, 'admin console failed');
        this.fail(
          new ProxyError('ADMIN_INTERNAL', SqlState.InternalError, 'pgroute admin: internal error', 'FATAL'),
        );
      });
  }

  private async handle(type: number, msg: Buffer): Promise<void> {
    if (this.isClosed) return;
    if (type === Frontend.Terminate) {
      this.close();
      return;
    }
    if (type === Frontend.Sync) {
      this.isSkippingToSync = false;
      this.socket.write(readyForQuery('I'));
      return;
    }
    if (this.isSkippingToSync || IGNORED.has(type)) return;
    if (EXTENDED.has(type)) {
      this.isSkippingToSync = true;
      this.socket.write(
        new ProxyError(
          'ADMIN_EXTENDED_PROTOCOL',
          SqlState.FeatureNotSupported,
          'pgroute admin: only the simple query protocol is supported',
        ).toMessage(),
      );
      return;
    }
    if (type !== Frontend.Query) {
      this.fail(
        new ProxyError(
          'ADMIN_PROTOCOL',
          SqlState.ProtocolViolation,
          `pgroute admin: unexpected message type ${type}`,
          'FATAL',
        ),
      );
      return;
    }
    await this.runQuery(readQueryText(msg));
  }

  /** Like PostgreSQL's simple query: statements run in order; the first error ends the batch. */
  private async runQuery(query: string): Promise<void> {
    const statements = splitStatements(query);
    if (statements.length === 0) {
      this.socket.write(Buffer.concat([EMPTY_QUERY_RESPONSE, readyForQuery('I')]));
      return;
    }
    for (const text of statements) {
      const cmd = parseAdminCommand(text);
      try {
        if (!cmd) throw new UnknownAdminCommandError();
        this.deps.log.info({ event: 'admin-command', user: this.user, command: cmd }, 'admin command');
        const result = await runAdminCommand(cmd, this.deps);
        if (this.isClosed) return;
        if (result.kind === 'rows') {
          const out = [rowDescription(result.table.columns)];
          for (const row of result.table.rows) out.push(dataRow(row));
          out.push(commandComplete(result.tag));
          this.socket.write(Buffer.concat(out));
        } else {
          if (result.notice)
            this.socket.write(noticeResponse({ severity: 'NOTICE', code: '00000', message: result.notice }));
          this.socket.write(commandComplete(result.tag));
        }
      } catch (err) {
        if (!(err instanceof ProxyError)) throw err;
        if (this.isClosed) return;
        this.socket.write(err.toMessage());
        break;
      }
    }
    this.socket.write(readyForQuery('I'));
  }

  private fail(err: ProxyError): void {
    if (this.isClosed) return;
    this.socket.end(err.toMessage());
    this.isClosed = true;
  }

  private close(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.socket.end();
  }
}

/** Query message body: one NUL-terminated string after the 5-byte header. */
function readQueryText(msg: Buffer): string {
  const end = msg.indexOf(0, 5);
  return msg.toString('utf8', 5, end < 0 ? msg.length : end);
}
