// Builders for the backend messages the proxy answers itself (auth, status, synthetic replies, errors).

import { AuthCode, Backend, type TxStatus } from './codes.js';
import { MessageWriter } from './writer.js';

export type Severity = 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'DEBUG' | 'INFO' | 'LOG';

export interface ErrorFields {
  severity: Severity;
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** ErrorResponse / NoticeResponse with both 'S' (localised) and 'V' (non-localised, PG 9.6+) severities. */
function fieldsMessage(type: number, f: ErrorFields): Buffer {
  const w = new MessageWriter();
  w.int8(0x53).cstring(f.severity); // S
  w.int8(0x56).cstring(f.severity); // V
  w.int8(0x43).cstring(f.code); // C
  w.int8(0x4d).cstring(f.message); // M
  if (f.detail) w.int8(0x44).cstring(f.detail); // D
  if (f.hint) w.int8(0x48).cstring(f.hint); // H
  w.int8(0);
  return w.finish(type);
}

export const errorResponse = (f: ErrorFields): Buffer => fieldsMessage(Backend.ErrorResponse, f);
export const noticeResponse = (f: ErrorFields): Buffer => fieldsMessage(Backend.NoticeResponse, f);

const READY: Record<TxStatus, Buffer> = {
  I: Buffer.from([Backend.ReadyForQuery, 0, 0, 0, 5, 0x49]),
  T: Buffer.from([Backend.ReadyForQuery, 0, 0, 0, 5, 0x54]),
  E: Buffer.from([Backend.ReadyForQuery, 0, 0, 0, 5, 0x45]),
};
export const readyForQuery = (status: TxStatus): Buffer => READY[status];

export const PARSE_COMPLETE = Buffer.from([Backend.ParseComplete, 0, 0, 0, 4]);
export const BIND_COMPLETE = Buffer.from([Backend.BindComplete, 0, 0, 0, 4]);
export const CLOSE_COMPLETE = Buffer.from([Backend.CloseComplete, 0, 0, 0, 4]);
export const NO_DATA = Buffer.from([Backend.NoData, 0, 0, 0, 4]);
export const EMPTY_QUERY_RESPONSE = Buffer.from([Backend.EmptyQueryResponse, 0, 0, 0, 4]);
export const AUTH_OK = Buffer.from([Backend.Authentication, 0, 0, 0, 8, 0, 0, 0, AuthCode.Ok]);

export const commandComplete = (tag: string): Buffer =>
  new MessageWriter().cstring(tag).finish(Backend.CommandComplete);

export const parameterStatus = (name: string, value: string): Buffer =>
  new MessageWriter().cstring(name).cstring(value).finish(Backend.ParameterStatus);

export const backendKeyData = (pid: number, secret: number): Buffer =>
  new MessageWriter().int32(pid).int32(secret).finish(Backend.BackendKeyData);

export const authCleartext = (): Buffer =>
  new MessageWriter().int32(AuthCode.CleartextPassword).finish(Backend.Authentication);

export const authMd5 = (salt: Buffer): Buffer =>
  new MessageWriter().int32(AuthCode.MD5Password).raw(salt).finish(Backend.Authentication);

export function authSasl(mechanisms: readonly string[]): Buffer {
  const w = new MessageWriter().int32(AuthCode.SASL);
  for (const m of mechanisms) w.cstring(m);
  return w.int8(0).finish(Backend.Authentication);
}

export const authSaslContinue = (data: string): Buffer =>
  new MessageWriter()
    .int32(AuthCode.SASLContinue)
    .raw(Buffer.from(data, 'utf8'))
    .finish(Backend.Authentication);

export const authSaslFinal = (data: string): Buffer =>
  new MessageWriter().int32(AuthCode.SASLFinal).raw(Buffer.from(data, 'utf8')).finish(Backend.Authentication);

/** NegotiateProtocolVersion: the newest minor version we support and the `_pq_.` options we did not recognise. */
export function negotiateProtocolVersion(newestMinor: number, unrecognised: readonly string[]): Buffer {
  const w = new MessageWriter().int32((3 << 16) | newestMinor).int32(unrecognised.length);
  for (const o of unrecognised) w.cstring(o);
  return w.finish(Backend.NegotiateProtocolVersion);
}

/** A RowDescription of text columns, for answers the proxy computes itself (SHOW pgroute.*, admin console). */
export function rowDescription(columns: readonly string[]): Buffer {
  const w = new MessageWriter().int16(columns.length);
  for (const c of columns) {
    // table oid 0, column 0, type text (25), typlen -1, typmod -1, text format
    w.cstring(c).int32(0).int16(0).int32(25).int16(-1).int32(-1).int16(0);
  }
  return w.finish(Backend.RowDescription);
}

export function dataRow(values: readonly (string | null)[]): Buffer {
  const w = new MessageWriter().int16(values.length);
  for (const v of values) {
    if (v === null) w.int32(-1);
    else {
      const b = Buffer.from(v, 'utf8');
      w.int32(b.length).raw(b);
    }
  }
  return w.finish(Backend.DataRow);
}
