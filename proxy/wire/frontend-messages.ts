// Reads and rewrites the frontend messages that carry prepared-statement names (Parse, Bind, Describe, Close, Query).

import { Frontend } from './codes.js';
import { MalformedMessageError, MessageReader, MessageWriter } from './writer.js';

export interface ParseMessage {
  name: string;
  query: string;
  /** int16 count + int32 OIDs, kept raw: we only ever copy them. */
  paramTypes: Buffer;
}

export function readParse(msg: Buffer): ParseMessage {
  const r = new MessageReader(msg, 5);
  const name = r.cstring();
  const query = r.cstring();
  const paramTypes = r.rest();
  return { name, query, paramTypes };
}

export function buildParse(name: string, query: string, paramTypes: Buffer): Buffer {
  return new MessageWriter().cstring(name).cstring(query).raw(paramTypes).finish(Frontend.Parse);
}

export interface BindHead {
  /** Offset of the NUL that ends the portal name (the name starts at 5). */
  portalEnd: number;
  statement: string;
  /** Offset of the first byte after the statement name: formats, parameters and result formats. */
  restOffset: number;
}

export function readBindHead(msg: Buffer): BindHead {
  const portalEnd = nulFrom(msg, 5);
  const statementEnd = portalEnd < 0 ? -1 : nulFrom(msg, portalEnd + 1);
  if (statementEnd < 0) throw new MalformedMessageError('unterminated string');
  // The portal name is copied as bytes, never decoded: only the statement name is looked up.
  const statement = statementEnd === portalEnd + 1 ? '' : msg.toString('utf8', portalEnd + 1, statementEnd);
  return { portalEnd, statement, restOffset: statementEnd + 1 };
}

/**
 * The same Bind with another statement name (ASCII, as server-side names are); the portal name,
 * formats and parameters are copied verbatim, into one buffer of the final size.
 */
export function rebuildBind(msg: Buffer, head: BindHead, statement: string): Buffer {
  const restLength = msg.length - head.restOffset;
  const out = Buffer.allocUnsafe(head.portalEnd + 1 + statement.length + 1 + restLength);
  msg.copy(out, 0, 0, head.portalEnd + 1);
  let off = head.portalEnd + 1 + out.write(statement, head.portalEnd + 1, 'latin1');
  out[off++] = 0;
  msg.copy(out, off, head.restOffset);
  out.writeInt32BE(out.length - 1, 1);
  return out;
}

/** Describe and Close share a layout: 'S' (statement) or 'P' (portal), then a name. */
export interface TargetMessage {
  target: 'S' | 'P';
  name: string;
}

export function readTarget(msg: Buffer): TargetMessage {
  const r = new MessageReader(msg, 5);
  const t = r.int8();
  const name = r.cstring();
  return { target: t === 0x53 ? 'S' : 'P', name };
}

export function buildTarget(type: number, target: 'S' | 'P', name: string): Buffer {
  return new MessageWriter().int8(target.charCodeAt(0)).cstring(name).finish(type);
}

/**
 * What the predicates below read: a message's bytes wherever they are, without a Buffer view of them
 * (see ClientMessage). Offsets count from the message's type byte.
 */
export interface MessageBytes {
  byteAt(offset: number): number | undefined;
  /** Offset of the next NUL at or after `from`, or -1. */
  nulFrom(from: number): number;
}

/** True when a Parse creates the unnamed statement (its name is the empty string), read without decoding. */
export function isUnnamedParse(m: MessageBytes): boolean {
  return m.byteAt(5) === 0;
}

/**
 * True when a Bind uses the unnamed statement: the common case of drivers that parse and bind
 * together, answered from the bytes without decoding the portal name.
 */
export function isUnnamedBind(m: MessageBytes): boolean {
  const portalEnd = m.nulFrom(5);
  return portalEnd >= 0 && m.byteAt(portalEnd + 1) === 0;
}

/**
 * Where the next NUL in `bytes[from, end)` is, or -1. Names are short (usually empty): a loop here
 * costs less than `indexOf`, which calls into C++ for every search.
 */
export function nulFrom(bytes: Uint8Array, from: number, end = bytes.length): number {
  for (let i = from; i < end; i++) if (bytes[i] === 0) return i;
  return -1;
}

/** True for a Describe or Close of a portal ('P'), read without decoding the name. */
export function isPortalTarget(m: MessageBytes): boolean {
  return m.byteAt(5) === 0x50;
}

export function readQuery(msg: Buffer): string {
  return new MessageReader(msg, 5).cstring();
}

export const SYNC = Buffer.from([Frontend.Sync, 0, 0, 0, 4]);
export const FLUSH = Buffer.from([Frontend.Flush, 0, 0, 0, 4]);
export const TERMINATE = Buffer.from([Frontend.Terminate, 0, 0, 0, 4]);

export function buildQuery(sql: string): Buffer {
  return new MessageWriter().cstring(sql).finish(Frontend.Query);
}
