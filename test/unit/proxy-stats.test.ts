import { describe, expect, it } from 'vitest';
import { ProxyStats } from '../../proxy/stats.js';

const key = (...parts: string[]): string => parts.join('\0');

describe('ProxyStats', () => {
  it('counts routed requests per decision, whether decisions repeat or alternate', () => {
    const stats = new ProxyStats();
    stats.countRouted('auto', 'primary', 'a:1', 'write');
    stats.countRouted('auto', 'primary', 'a:1', 'write');
    for (let i = 0; i < 3; i++) {
      stats.countRouted('auto', 'standby', 'b:1', 'read');
      stats.countRouted('auto', 'standby', 'c:1', 'read');
    }
    // Same strings built afresh: equal text is the same decision.
    stats.countRouted(['au', 'to'].join(''), 'primary', `a:${1}`, 'write');
    stats.countRouted('ro', 'standby', 'b:1', 'read');
    expect(stats.routed).toEqual(
      new Map([
        [key('auto', 'primary', 'a:1', 'write'), 3],
        [key('auto', 'standby', 'b:1', 'read'), 3],
        [key('auto', 'standby', 'c:1', 'read'), 3],
        [key('ro', 'standby', 'b:1', 'read'), 1],
      ]),
    );
  });

  it('counts transactions per listener and role', () => {
    const stats = new ProxyStats();
    stats.countTransaction('auto', 'primary');
    stats.countTransaction('auto', 'primary');
    stats.countTransaction('auto', 'standby');
    stats.countTransaction('rw', 'primary');
    stats.countTransaction('auto', 'primary');
    expect(stats.transactions).toEqual(
      new Map([
        [key('auto', 'primary'), 3],
        [key('auto', 'standby'), 1],
        [key('rw', 'primary'), 1],
      ]),
    );
  });
});
