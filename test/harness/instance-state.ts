// One healthy InstanceState for unit tests (routing, metrics, ops server); each test overrides what it checks.
import type { InstanceState } from '../../discovery/topology-view.js';

/** `id` is `host:port`; a primary is writable with a current LSN, a standby has a replay LSN. */
export function instanceState(
  id: string,
  role: InstanceState['role'],
  over: Partial<InstanceState> = {},
): InstanceState {
  const [host, port] = id.split(':');
  return {
    id,
    host: host!,
    port: Number(port),
    role,
    health: 'up',
    isWritable: role === 'primary',
    isServing: true,
    timeline: 1,
    systemIdentifier: '1',
    currentLsn: role === 'primary' ? 1000n : null,
    replayLsn: role === 'standby' ? 1000n : null,
    lagBytes: 0,
    lagSeconds: 0,
    lastProbeAt: 0,
    sourceRole: null,
    isRefused: false,
    isEligible: true,
    lastError: null,
    ...over,
  };
}
