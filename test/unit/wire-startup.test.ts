import { describe, expect, it } from 'vitest';
import { StartupCode } from '../../proxy/wire/codes.js';
import {
  parseOptionsParameter,
  parseStartupPacket,
  UnsupportedOptionError,
} from '../../proxy/wire/startup.js';
import { MalformedMessageError, MessageWriter } from '../../proxy/wire/writer.js';

describe('parseStartupPacket', () => {
  it('reads protocol 3.0 and every parameter', () => {
    const p = new MessageWriter()
      .int32(StartupCode.ProtocolV3)
      .cstring('user')
      .cstring('app')
      .cstring('myapp.tenant')
      .cstring('42')
      .int8(0)
      .finishUntyped();
    const r = parseStartupPacket(p);
    expect(r).toEqual({
      kind: 'startup',
      major: 3,
      minor: 0,
      params: new Map([
        ['user', 'app'],
        ['myapp.tenant', '42'],
      ]),
    });
  });

  it('recognises SSLRequest, GSSENCRequest and CancelRequest', () => {
    expect(parseStartupPacket(new MessageWriter().int32(StartupCode.SSLRequest).finishUntyped()).kind).toBe(
      'ssl-request',
    );
    expect(
      parseStartupPacket(new MessageWriter().int32(StartupCode.GSSENCRequest).finishUntyped()).kind,
    ).toBe('gssenc-request');
    expect(
      parseStartupPacket(
        new MessageWriter().int32(StartupCode.CancelRequest).int32(7).int32(9).finishUntyped(),
      ),
    ).toEqual({
      kind: 'cancel',
      pid: 7,
      secret: 9,
    });
  });

  it('rejects an unterminated parameter list', () => {
    const p = new MessageWriter().int32(StartupCode.ProtocolV3).cstring('user').finishUntyped();
    expect(() => parseStartupPacket(p)).toThrow(MalformedMessageError);
  });
});

describe('parseOptionsParameter', () => {
  it('splits -c and -- settings with backslash-escaped spaces', () => {
    expect(parseOptionsParameter('-c search_path=a\\ b --statement-timeout=5s -cwork_mem=4MB')).toEqual(
      new Map([
        ['search_path', 'a b'],
        ['statement_timeout', '5s'],
        ['work_mem', '4MB'],
      ]),
    );
  });

  it('rejects switches other than -c and --name=value', () => {
    expect(() => parseOptionsParameter('-F')).toThrow(UnsupportedOptionError);
  });
});
