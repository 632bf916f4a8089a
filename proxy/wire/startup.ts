// Parses the untyped startup-phase packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest.

import { StartupCode } from './codes.js';
import { MalformedMessageError, MessageReader } from './writer.js';

export type StartupPacket =
  | { kind: 'ssl-request' }
  | { kind: 'gssenc-request' }
  | { kind: 'cancel'; pid: number; secret: number }
  | { kind: 'startup'; major: number; minor: number; params: Map<string, string> };

/** `packet` is the whole packet including its int32 length. */
export function parseStartupPacket(packet: Buffer): StartupPacket {
  const r = new MessageReader(packet, 4);
  const code = r.int32();
  switch (code) {
    case StartupCode.SSLRequest:
      return { kind: 'ssl-request' };
    case StartupCode.GSSENCRequest:
      return { kind: 'gssenc-request' };
    case StartupCode.CancelRequest:
      return { kind: 'cancel', pid: r.int32(), secret: r.int32() };
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  const params = new Map<string, string>();
  if (major === 3) {
    // Name/value pairs terminated by an empty name (protocol chapter, StartupMessage).
    for (;;) {
      const name = r.cstring();
      if (name === '') break;
      const value = r.cstring();
      params.set(name, value);
    }
    if (r.remaining !== 0) throw new MalformedMessageError('trailing bytes after startup parameters');
  }
  return { kind: 'startup', major, minor, params };
}

/**
 * Splits the libpq `options` parameter ("-c a=b --c=d") into settings, honouring backslash escapes as
 * pg_split_opts() does (src/backend/utils/init/postinit.c). Other switches are rejected.
 */
export function parseOptionsParameter(options: string): Map<string, string> {
  const words: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < options.length; i++) {
    const ch = options[i]!;
    if (ch === '\\' && i + 1 < options.length) {
      cur += options[++i];
      has = true;
    } else if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (has) words.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (has) words.push(cur);
  const out = new Map<string, string>();
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    let setting: string | undefined;
    if (w === '-c') setting = words[++i];
    else if (w.startsWith('-c')) setting = w.slice(2);
    else if (w.startsWith('--')) setting = w.slice(2);
    if (setting === undefined) throw new UnsupportedOptionError(w);
    const eq = setting.indexOf('=');
    if (eq <= 0) throw new UnsupportedOptionError(w);
    out.set(setting.slice(0, eq).replace(/-/g, '_').toLowerCase(), setting.slice(eq + 1));
  }
  return out;
}

export class UnsupportedOptionError extends Error {
  readonly code = 'UNSUPPORTED_OPTION';
  constructor(readonly option: string) {
    super(`unsupported command-line option in "options": ${option}`);
  }
}
