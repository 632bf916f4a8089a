// Instance ids ("host:port", IPv6 in brackets) and parsing of "host[:port]" address strings.

import { InstanceAddressError } from './errors.js';

export const DEFAULT_POSTGRES_PORT = 5432;

export interface InstanceAddress {
  host: string;
  port: number;
}

export function formatInstanceId(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** Accepts "host", "host:port", "[v6]" and "[v6]:port"; the port defaults to 5432. */
export function parseInstanceAddress(text: string, defaultPort = DEFAULT_POSTGRES_PORT): InstanceAddress {
  const trimmed = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(trimmed);
  const plain = /^([^:[\]\s]+)(?::(\d+))?$/.exec(trimmed);
  const match = bracketed ?? plain;
  if (match === null || match[1] === undefined) throw new InstanceAddressError(text);
  const port = match[2] === undefined ? defaultPort : Number(match[2]);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new InstanceAddressError(text);
  return { host: match[1], port };
}
