// Unit tests: static host lists -> endpoints, and instance address parsing.
import { describe, expect, it } from 'vitest';
import type { SourceEndpoint } from '../../discovery/endpoint-source.js';
import { InstanceAddressError } from '../../discovery/errors.js';
import { formatInstanceId, parseInstanceAddress } from '../../discovery/instance-address.js';
import { mapStaticEndpoints, StaticSource } from '../../discovery/static-source.js';

describe('parseInstanceAddress', () => {
  it('defaults the port to 5432', () => {
    expect(parseInstanceAddress('db1')).toEqual({ host: 'db1', port: 5432 });
  });

  it('reads an explicit port', () => {
    expect(parseInstanceAddress('127.0.0.2:6432')).toEqual({ host: '127.0.0.2', port: 6432 });
  });

  it('reads a bracketed IPv6 address with a port', () => {
    expect(parseInstanceAddress('[::1]:5433')).toEqual({ host: '::1', port: 5433 });
  });

  it.each(['', 'db1:', 'db1:0', 'db1:70000', '::1', 'db1:54x'])('rejects %j', (text) => {
    expect(() => parseInstanceAddress(text)).toThrow(InstanceAddressError);
  });
});

describe('formatInstanceId', () => {
  it('joins host and port with a colon', () => {
    expect(formatInstanceId('127.0.0.2', 5432)).toBe('127.0.0.2:5432');
  });

  it('brackets IPv6 hosts', () => {
    expect(formatInstanceId('::1', 5432)).toBe('[::1]:5432');
  });
});

describe('StaticSource', () => {
  it('lists each host once, serving, without a role hint', () => {
    expect(mapStaticEndpoints(['a:1', 'b', 'a:1'])).toEqual([
      { host: 'a', port: 1, roleHint: null, isServing: true },
      { host: 'b', port: 5432, roleHint: null, isServing: true },
    ]);
  });

  it('delivers its endpoints to the sink on start', async () => {
    const received: SourceEndpoint[][] = [];
    await new StaticSource({ hosts: ['127.0.0.2:5432'] }).start((endpoints) => received.push(endpoints));
    expect(received).toEqual([[{ host: '127.0.0.2', port: 5432, roleHint: null, isServing: true }]]);
  });

  it('fails at construction on a malformed host', () => {
    expect(() => new StaticSource({ hosts: ['db1:nope'] })).toThrow(InstanceAddressError);
  });
});
