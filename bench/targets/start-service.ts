// Starts a target's daemon under the supervisor and returns once it answers a real query.
import type { TargetName } from '../bench-options.js';
import type { ServiceHandle, ServiceSpec } from '../process-supervisor.js';
import { waitForReady } from '../wait-ready.js';
import { type TargetContext, type TargetEndpoint, TargetStartError } from './bench-target.js';

/** The daemon is stopped again when it never becomes ready: the bench then skips the target. */
export async function startReadyService(
  ctx: TargetContext,
  target: TargetName,
  spec: ServiceSpec,
  endpoint: TargetEndpoint,
  timeoutMs: number,
): Promise<ServiceHandle> {
  const service = ctx.supervisor.startService(spec);
  const ready = await waitForReady(
    {
      host: endpoint.host,
      port: endpoint.port,
      user: ctx.user.name,
      password: ctx.user.password,
      database: ctx.cluster.database,
      psqlPath: ctx.psqlPath,
      timeoutMs,
      service,
    },
    ctx.supervisor,
  );
  if (ready.kind === 'not-ready') {
    await ctx.supervisor.stop(service);
    throw new TargetStartError(target, ready.reason);
  }
  return service;
}
