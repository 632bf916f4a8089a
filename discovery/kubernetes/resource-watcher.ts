// List + watch of one Kubernetes resource kind with resourceVersion, BOOKMARKs, 410 Gone relists and backoff.

import type { Watch } from '@kubernetes/client-node';
import { KubernetesApiError } from '../errors.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { KubeList, KubeObject, WatchEventType } from './kube-objects.js';

export interface ResourceWatcherOptions<T extends KubeObject> {
  /** For errors and logs, e.g. "endpointslices". */
  resource: string;
  /** API path of the collection, e.g. /apis/discovery.k8s.io/v1/namespaces/default/endpointslices. */
  watchPath: string;
  labelSelector?: string;
  /** A consistent list of the collection (typed client call). */
  list: () => Promise<KubeList<T>>;
  watch: Watch;
  /** Every object currently known, after each change; the last list survives API outages. */
  onChange: (objects: readonly T[]) => void;
  onError?: (error: Error, retryInMs: number) => void;
  backoff?: BackoffOptions;
  /** Default 10 s: a list that hangs must not stall the loop. */
  listTimeoutMs?: number;
  /** Server-side watch duration (?timeoutSeconds=); default 300. */
  watchTimeoutSeconds?: number;
}

export type ResourceWatcherState = 'idle' | 'listing' | 'watching' | 'backing-off' | 'stopped';

type WatchOutcome = { kind: 'closed'; eventCount: number } | { kind: 'gone' } | { kind: 'stopped' };

/**
 * Implements https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes itself
 * rather than with client-node's ListWatch: that informer stops for good on most errors, backs off up to 30 s and
 * does not ask for bookmarks; this loop never gives up, caps its backoff and keeps objects through outages.
 */
export class ResourceWatcher<T extends KubeObject> {
  private readonly objects = new Map<string, T>();
  private readonly backoff: Backoff;
  private rv = '';
  private synced = false;
  private phase: ResourceWatcherState = 'idle';
  private loop: Promise<void> | null = null;
  private abortWatch: (() => void) | null = null;
  private wake: (() => void) | null = null;
  private isStopRequested = false;
  private readonly stopRequested: Promise<'stopped'>;
  private requestStop: () => void = () => {};
  private readonly firstAttemptDone: Promise<void>;
  private settleFirstAttempt: () => void = () => {};

  constructor(private readonly options: ResourceWatcherOptions<T>) {
    this.backoff = new Backoff(options.backoff);
    this.stopRequested = new Promise((resolve) => {
      this.requestStop = () => resolve('stopped');
    });
    this.firstAttemptDone = new Promise((resolve) => {
      this.settleFirstAttempt = resolve;
    });
  }

  /** Resolves once the first list has succeeded or failed (the loop keeps retrying after a failure), or on stop. */
  firstAttempt(): Promise<void> {
    return this.firstAttemptDone;
  }

  get state(): ResourceWatcherState {
    return this.phase;
  }

  /** The resourceVersion the next watch resumes from ('' = relist first). */
  get resourceVersion(): string {
    return this.rv;
  }

  /** At least one list has succeeded. */
  get hasSynced(): boolean {
    return this.synced;
  }

  list(): T[] {
    return [...this.objects.values()];
  }

  start(): void {
    if (this.loop !== null) return;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.isStopRequested = true;
    this.requestStop();
    this.settleFirstAttempt();
    this.abortWatch?.();
    this.wake?.();
    await this.loop;
    this.phase = 'stopped';
  }

  private async run(): Promise<void> {
    while (!this.isStopRequested) {
      try {
        if (this.rv === '') await this.relist();
        if (this.isStopped()) return;
        const outcome = await this.watchOnce();
        if (outcome.kind === 'gone') {
          // The resourceVersion was compacted away: only a fresh list is consistent again.
          this.rv = '';
        } else if (outcome.kind === 'closed' && outcome.eventCount === 0) {
          // A server that keeps closing empty watches must not be hammered.
          await this.sleep(this.backoff.next());
        }
      } catch (error) {
        if (this.isStopped()) return;
        if (isGone(error)) {
          this.rv = '';
          continue;
        }
        if (isInactivityTimeout(error)) {
          // client-node's Watch gave up on a quiet stream (no event, no bookmark for 30 s): routine, resume.
          continue;
        }
        const delay = this.backoff.next();
        this.options.onError?.(asError(error), delay);
        this.settleFirstAttempt();
        await this.sleep(delay);
      }
    }
  }

  private async relist(): Promise<void> {
    this.phase = 'listing';
    const listed = withTimeout(
      this.options.list(),
      this.options.listTimeoutMs ?? 10_000,
      this.options.resource,
    );
    const list = await Promise.race([listed, this.stopRequested]);
    if (list === 'stopped') return;
    this.objects.clear();
    for (const item of list.items) this.objects.set(keyOf(item), item);
    this.rv = list.metadata?.resourceVersion ?? '';
    this.synced = true;
    this.backoff.reset();
    this.options.onChange(this.list());
    this.settleFirstAttempt();
  }

  private watchOnce(): Promise<WatchOutcome> {
    this.phase = 'watching';
    return new Promise<WatchOutcome>((resolve, reject) => {
      let isSettled = false;
      let eventCount = 0;
      let controller: AbortController | null = null;
      const settle = (finish: () => void) => {
        if (isSettled) return;
        isSettled = true;
        this.abortWatch = null;
        controller?.abort();
        finish();
      };
      this.abortWatch = () => settle(() => resolve({ kind: 'stopped' }));
      const onEvent = (type: string, object: unknown) => {
        if (isSettled) return;
        const outcome = this.applyEvent(type as WatchEventType, object);
        if (outcome === 'gone') settle(() => resolve({ kind: 'gone' }));
        else if (outcome instanceof Error) settle(() => reject(outcome));
        else eventCount += 1;
      };
      const onDone = (error: unknown) =>
        settle(() => (error ? reject(error) : resolve({ kind: 'closed', eventCount })));
      const query = {
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        timeoutSeconds: this.options.watchTimeoutSeconds ?? 300,
        ...(this.options.labelSelector === undefined ? {} : { labelSelector: this.options.labelSelector }),
      };
      this.options.watch.watch(this.options.watchPath, query, onEvent, onDone).then(
        (returned) => {
          controller = returned;
          if (isSettled) returned.abort();
        },
        (error: unknown) => settle(() => reject(error)),
      );
    });
  }

  /** Applies one watch event; returns 'gone' for 410 and an error for any other ERROR event. */
  private applyEvent(type: WatchEventType, object: unknown): 'applied' | 'gone' | Error {
    if (type === 'ERROR') {
      const status = object as { code?: number; message?: string } | undefined;
      if (status?.code === 410) return 'gone';
      return new KubernetesApiError(
        this.options.resource,
        status?.code ?? null,
        status?.message ?? 'watch ERROR event',
      );
    }
    const item = object as T;
    const resourceVersion = item.metadata?.resourceVersion;
    if (resourceVersion) this.rv = resourceVersion;
    // Any event, a BOOKMARK too, proves the API is answering.
    this.backoff.reset();
    if (type === 'BOOKMARK') return 'applied';
    if (type === 'DELETED') this.objects.delete(keyOf(item));
    else if (type === 'ADDED' || type === 'MODIFIED') this.objects.set(keyOf(item), item);
    else return 'applied';
    this.options.onChange(this.list());
    return 'applied';
  }

  private sleep(ms: number): Promise<void> {
    if (this.isStopped()) return Promise.resolve();
    this.phase = 'backing-off';
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.wake = null;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
    });
  }

  private isStopped(): boolean {
    return this.isStopRequested;
  }
}

function keyOf(object: KubeObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/** HTTP 410 on the watch request (client-node sets statusCode) or on a list (ApiException sets code). */
function isGone(error: unknown): boolean {
  const { statusCode, code } = (error ?? {}) as { statusCode?: unknown; code?: unknown };
  return statusCode === 410 || code === 410;
}

function isInactivityTimeout(error: unknown): boolean {
  return error instanceof Error && error.name === 'TimeoutError';
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

function withTimeout<V>(promise: Promise<V>, timeoutMs: number, resource: string): Promise<V> {
  return new Promise<V>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new KubernetesApiError(resource, null, `list timed out after ${timeoutMs} ms`)),
      timeoutMs,
    );
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
