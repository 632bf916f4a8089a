// A fake Kubernetes API server on 127.0.0.1: list and chunked watch of EndpointSlices, Pods and Secrets, with faults on demand.
//
// Speaks the protocol of https://kubernetes.io/docs/reference/using-api/api-concepts/: a list answers with
// metadata.resourceVersion; `?watch=1&resourceVersion=N` streams newline-delimited {type, object} events after N
// (ADDED/MODIFIED/DELETED/BOOKMARK/ERROR); a resourceVersion older than the retained history is answered with
// 410 Gone, either as an ERROR event (what a real API server does on an open watch) or as an HTTP 410.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The kinds discovery watches (KubernetesSource). */
export type FakeResource = 'endpointslices' | 'pods';
/** Every kind this server serves: discovery's, and the Secrets that users[].secret reads. */
export type FakeApiResource = FakeResource | 'secrets';

export interface FakeObject {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string; labels?: Record<string, string> };
  [key: string]: unknown;
}

export interface FakeEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: FakeObject;
}

export interface RecordedRequest {
  resource: FakeApiResource;
  namespace: string;
  isWatch: boolean;
  resourceVersion: string | null;
  labelSelector: string | null;
  fieldSelector: string | null;
  allowWatchBookmarks: boolean;
  /** HTTP status of the answer (200 for a watch that then streamed, even an ERROR event). */
  status: number;
}

interface OpenWatch {
  resource: FakeApiResource;
  namespace: string;
  matches: (object: FakeObject) => boolean;
  response: ServerResponse;
}

interface Store {
  objects: Map<string, FakeObject>;
  history: Array<{ rv: number; event: FakeEvent }>;
  /** Watches from a resourceVersion below this are too old. */
  oldestRetainedRv: number;
}

const PATHS: Array<[RegExp, FakeApiResource]> = [
  [/^\/apis\/discovery\.k8s\.io\/v1\/namespaces\/([^/]+)\/endpointslices$/, 'endpointslices'],
  [/^\/api\/v1\/namespaces\/([^/]+)\/pods$/, 'pods'],
  [/^\/api\/v1\/namespaces\/([^/]+)\/secrets$/, 'secrets'],
];

const LIST_KINDS: Record<FakeApiResource, { apiVersion: string; kind: string }> = {
  endpointslices: { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList' },
  pods: { apiVersion: 'v1', kind: 'PodList' },
  secrets: { apiVersion: 'v1', kind: 'SecretList' },
};

export class FakeKubeApi {
  readonly requests: RecordedRequest[] = [];
  private readonly stores: Record<FakeApiResource, Store> = {
    endpointslices: { objects: new Map(), history: [], oldestRetainedRv: 0 },
    pods: { objects: new Map(), history: [], oldestRetainedRv: 0 },
    secrets: { objects: new Map(), history: [], oldestRetainedRv: 0 },
  };
  private readonly watches = new Set<OpenWatch>();
  private readonly sockets = new Set<Socket>();
  private readonly requestWaiters: Array<() => void> = [];
  private currentRv = 0;
  private goneMode: 'event' | 'http' = 'event';
  private failuresLeft = 0;
  private failureStatus = 500;
  private server: Server;

  private constructor(readonly port: number) {
    this.server = this.createHttpServer();
  }

  static async start(): Promise<FakeKubeApi> {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const address = probe.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const api = new FakeKubeApi(port);
    await api.listen();
    return api;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get resourceVersion(): number {
    return this.currentRv;
  }

  /** Replaces a resource's objects (as a list answer would show them) without watch events. */
  load(
    resource: FakeApiResource,
    list: { metadata?: { resourceVersion?: string }; items: FakeObject[] },
  ): void {
    const store = this.stores[resource];
    store.objects.clear();
    for (const item of list.items) store.objects.set(keyOf(item), item);
    this.bumpRv(Number(list.metadata?.resourceVersion ?? 0));
    store.history = [];
    store.oldestRetainedRv = this.currentRv;
  }

  /** Applies one event to the store, keeps it in the history and streams it to matching open watches. */
  applyEvent(resource: FakeApiResource, event: FakeEvent): void {
    const rv = this.bumpRv(Number(event.object.metadata?.resourceVersion ?? 0));
    const object = { ...event.object, metadata: { ...event.object.metadata, resourceVersion: String(rv) } };
    const store = this.stores[resource];
    if (event.type === 'DELETED') store.objects.delete(keyOf(object));
    else store.objects.set(keyOf(object), object);
    store.history.push({ rv, event: { type: event.type, object } });
    for (const watch of this.watches) {
      if (watch.resource === resource && watch.matches(object))
        writeEvent(watch.response, event.type, object);
    }
  }

  /** Sends a BOOKMARK carrying a new resourceVersion to every open watch of `resource`; returns that version. */
  bookmark(resource: FakeApiResource): number {
    const rv = this.bumpRv(0);
    for (const watch of this.watches) {
      if (watch.resource === resource)
        writeEvent(watch.response, 'BOOKMARK', { metadata: { resourceVersion: String(rv) } });
    }
    return rv;
  }

  /**
   * Forgets the history of `resource` (as etcd compaction does): open watches get an ERROR 410 event and are
   * closed; later watches from an older resourceVersion get 410 as an event or as HTTP status, per `mode`.
   */
  compact(resource: FakeApiResource, mode: 'event' | 'http' = 'event'): void {
    const store = this.stores[resource];
    this.goneMode = mode;
    store.history = [];
    store.oldestRetainedRv = this.bumpRv(0);
    for (const watch of [...this.watches]) {
      if (watch.resource !== resource) continue;
      writeEvent(watch.response, 'ERROR', goneStatus(store.oldestRetainedRv));
      watch.response.end();
      this.watches.delete(watch);
    }
  }

  /** Sends an ERROR event with a non-410 status (e.g. 500) on every open watch of `resource` and closes them. */
  failWatches(resource: FakeApiResource, code = 500): void {
    for (const watch of [...this.watches]) {
      if (watch.resource !== resource) continue;
      writeEvent(watch.response, 'ERROR', {
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        reason: 'InternalError',
        code,
      });
      watch.response.end();
      this.watches.delete(watch);
    }
  }

  /** Changes objects behind the watchers' backs (not in the history), e.g. while their watch is broken. */
  replaceSilently(resource: FakeApiResource, objects: FakeObject[]): void {
    const store = this.stores[resource];
    store.objects.clear();
    for (const object of objects) store.objects.set(keyOf(object), object);
  }

  /** Cuts every open watch stream without a proper end (socket destroyed). */
  dropWatches(resource?: FakeApiResource): void {
    for (const watch of [...this.watches]) {
      if (resource !== undefined && watch.resource !== resource) continue;
      this.watches.delete(watch);
      watch.response.socket?.destroy();
    }
  }

  /** Answers the next `count` requests with HTTP `status`. */
  failRequests(count: number, status = 500): void {
    this.failuresLeft = count;
    this.failureStatus = status;
  }

  /** Stops listening and cuts every connection: clients get ECONNREFUSED until comeBack(). */
  async goAway(): Promise<void> {
    this.watches.clear();
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server = this.createHttpServer();
  }

  async comeBack(): Promise<void> {
    await this.listen();
  }

  openWatchCount(resource: FakeApiResource): number {
    return [...this.watches].filter((watch) => watch.resource === resource).length;
  }

  /** Resolves with the first request (already received or future) that satisfies `predicate`. */
  async waitForRequest(predicate: (request: RecordedRequest) => boolean, from = 0): Promise<RecordedRequest> {
    for (;;) {
      const found = this.requests.slice(from).find(predicate);
      if (found !== undefined) return found;
      await new Promise<void>((resolve) => this.requestWaiters.push(resolve));
    }
  }

  async close(): Promise<void> {
    await this.goAway();
  }

  private listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.port, '127.0.0.1', resolve));
  }

  private createHttpServer(): Server {
    const server = createServer((request, response) => this.handle(request, response));
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    return server;
  }

  private bumpRv(atLeast: number): number {
    this.currentRv = Math.max(this.currentRv + 1, atLeast);
    return this.currentRv;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.url);
    const route = PATHS.map(([pattern, resource]) => [pattern.exec(url.pathname), resource] as const).find(
      ([match]) => match !== null,
    );
    if (request.method !== 'GET' || route === undefined || route[0] === null) {
      sendStatus(response, 404, 'NotFound', `no route for ${request.method} ${url.pathname}`);
      return;
    }
    const [match, resource] = route;
    const namespace = decodeURIComponent(match[1] ?? '');
    const watchParam = url.searchParams.get('watch');
    const recorded: RecordedRequest = {
      resource,
      namespace,
      isWatch: watchParam === '1' || watchParam === 'true',
      resourceVersion: url.searchParams.get('resourceVersion'),
      labelSelector: url.searchParams.get('labelSelector'),
      fieldSelector: url.searchParams.get('fieldSelector'),
      allowWatchBookmarks: url.searchParams.get('allowWatchBookmarks') === 'true',
      status: 0,
    };
    this.requests.push(recorded);
    this.serve(resource, recorded, response, url);
    // Every answer's status line is written synchronously above.
    recorded.status = response.statusCode;
    this.requestWaiters.splice(0).forEach((wake) => {
      wake();
    });
  }

  private serve(
    resource: FakeApiResource,
    recorded: RecordedRequest,
    response: ServerResponse,
    url: URL,
  ): void {
    const namespace = recorded.namespace;
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      sendStatus(response, this.failureStatus, 'InternalError', 'injected failure');
      return;
    }
    try {
      matchesFieldSelector(recorded.fieldSelector, {});
    } catch (error) {
      sendStatus(response, 400, 'BadRequest', (error as Error).message);
      return;
    }
    const matches = (object: FakeObject) =>
      (object.metadata?.namespace ?? namespace) === namespace &&
      matchesSelector(recorded.labelSelector, object) &&
      matchesFieldSelector(recorded.fieldSelector, object);
    if (recorded.isWatch) this.serveWatch(resource, recorded, matches, response, url);
    else this.serveList(resource, matches, response);
  }

  private serveList(
    resource: FakeApiResource,
    matches: (object: FakeObject) => boolean,
    response: ServerResponse,
  ): void {
    const items = [...this.stores[resource].objects.values()].filter(matches);
    const body = { ...LIST_KINDS[resource], metadata: { resourceVersion: String(this.currentRv) }, items };
    response.writeHead(200, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  private serveWatch(
    resource: FakeApiResource,
    recorded: RecordedRequest,
    matches: (object: FakeObject) => boolean,
    response: ServerResponse,
    url: URL,
  ): void {
    const store = this.stores[resource];
    const from =
      recorded.resourceVersion === null || recorded.resourceVersion === ''
        ? 0
        : Number(recorded.resourceVersion);
    const isTooOld = from !== 0 && from < store.oldestRetainedRv;
    if (isTooOld && this.goneMode === 'http') {
      sendStatus(response, 410, 'Expired', `too old resource version: ${from} (${store.oldestRetainedRv})`);
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    if (isTooOld) {
      writeEvent(response, 'ERROR', goneStatus(store.oldestRetainedRv));
      response.end();
      return;
    }
    if (from === 0) {
      // "Start at most recent": synthetic ADDED events for the current state.
      for (const object of store.objects.values()) if (matches(object)) writeEvent(response, 'ADDED', object);
    } else {
      for (const { rv, event } of store.history)
        if (rv > from && matches(event.object)) writeEvent(response, event.type, event.object);
    }
    const watch: OpenWatch = { resource, namespace: recorded.namespace, matches, response };
    this.watches.add(watch);
    const timeoutSeconds = Number(url.searchParams.get('timeoutSeconds') ?? 0);
    const timer = timeoutSeconds > 0 ? setTimeout(() => response.end(), timeoutSeconds * 1000) : null;
    response.on('close', () => {
      if (timer !== null) clearTimeout(timer);
      this.watches.delete(watch);
    });
  }
}

function keyOf(object: FakeObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

function writeEvent(response: ServerResponse, type: string, object: unknown): void {
  response.write(`${JSON.stringify({ type, object })}\n`);
}

function goneStatus(oldest: number) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `too old resource version (oldest retained: ${oldest})`,
    reason: 'Expired',
    code: 410,
  };
}

function sendStatus(response: ServerResponse, code: number, reason: string, message: string): void {
  response.writeHead(code, { 'content-type': 'application/json' });
  response.end(
    JSON.stringify({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason,
      code,
    }),
  );
}

/**
 * Label selectors (https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors):
 * comma-separated requirements, each `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` or `!k`.
 */
export function matchesSelector(selector: string | null, object: FakeObject): boolean {
  if (selector === null || selector.trim() === '') return true;
  const labels = object.metadata?.labels ?? {};
  return splitRequirements(selector).every((requirement) => {
    const set = /^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(requirement);
    if (set) {
      const values = (set[3] ?? '').split(',').map((value) => value.trim());
      const has =
        set[1] !== undefined && labels[set[1]] !== undefined && values.includes(labels[set[1]] ?? '');
      return set[2] === 'in' ? has : !has;
    }
    const equality = /^([\w./-]+)\s*(==|=|!=)\s*([\w.-]*)$/.exec(requirement);
    if (equality) {
      const value = labels[equality[1] ?? ''];
      return equality[2] === '!=' ? value !== equality[3] : value === equality[3];
    }
    if (requirement.startsWith('!')) return labels[requirement.slice(1)] === undefined;
    return labels[requirement] !== undefined;
  });
}

/**
 * Field selectors (https://kubernetes.io/docs/concepts/overview/working-with-objects/field-selectors/): only
 * `metadata.name` and `metadata.namespace`, which every resource supports, with `=`, `==` or `!=`.
 */
export function matchesFieldSelector(selector: string | null, object: FakeObject): boolean {
  if (selector === null || selector.trim() === '') return true;
  return selector.split(',').every((requirement) => {
    const m = /^\s*(metadata\.name|metadata\.namespace)\s*(==|=|!=)\s*(.*?)\s*$/.exec(requirement);
    if (!m) throw new Error(`unsupported field selector ${JSON.stringify(requirement)}`);
    const value = m[1] === 'metadata.name' ? object.metadata?.name : object.metadata?.namespace;
    return m[2] === '!=' ? value !== m[3] : value === m[3];
  });
}

function splitRequirements(selector: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of selector) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += char;
  }
  if (current.trim() !== '') parts.push(current.trim());
  return parts;
}
