// Integration (slow, ~30 s: npm ci + tsc): replays the Dockerfile's build in a temp dir without a Docker engine, then runs the image's entrypoint.

import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { findFreePort } from '../../demo/free-port.js';
import { sharedCluster } from '../harness/cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CONFIG_FILE = 'deploy/kubernetes/base/pgroute.yaml';
const DEPLOYMENT_FILE = 'deploy/kubernetes/base/deployment.yaml';

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  name: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | null;
  entrypoint: string[];
  cmd: string[];
  exposed: number[];
  stopSignal: string | null;
}

/** Instructions with continuation lines joined and comments dropped (https://docs.docker.com/reference/dockerfile/). */
function parseDockerfile(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (pending === '' && /^\s*(#|$)/.test(line)) continue;
    if (/\\\s*$/.test(line)) {
      pending += `${line.replace(/\\\s*$/, '')} `;
      continue;
    }
    const full = `${pending}${line}`.trim();
    pending = '';
    const m = /^(\w+)\s+(.*)$/s.exec(full);
    if (m) out.push({ keyword: m[1]!.toUpperCase(), args: m[2]! });
  }
  return out;
}

const substitute = (s: string, vars: Record<string, string>) =>
  s.replace(/\$\{(\w+)\}|\$(\w+)/g, (all, a?: string, b?: string) => vars[(a ?? b)!] ?? all);

/** `["a", "b"]` (exec form) or a shell string split on blanks. */
const parseCommand = (s: string): string[] =>
  s.trim().startsWith('[') ? JSON.parse(s) : s.trim().split(/\s+/);

/** .dockerignore: Go filepath.Match patterns plus `**`, last match wins, `!` re-includes; a match covers a directory's contents. */
function dockerignoreMatcher(text: string): (path: string) => boolean {
  const rules = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const isException = l.startsWith('!');
      const pattern = posix.normalize(l.replace(/^!/, '').replace(/^\/+/, ''));
      const source = pattern
        .split(/(\*\*\/?|\*|\?)/)
        .map((part) =>
          part === '**' || part === '**/'
            ? '(?:.*/)?'
            : part === '*'
              ? '[^/]*'
              : part === '?'
                ? '[^/]'
                : part.replace(/[.+^${}()|[\]\\]/g, '\\$&'),
        )
        .join('');
      return { isException, regex: new RegExp(`^${source}(?:/.*)?$`) };
    });
  return (path) => rules.reduce((ignored, r) => (r.regex.test(path) ? !r.isException : ignored), false);
}

function copyContext(to: string): void {
  const isIgnored = dockerignoreMatcher(readFileSync(join(ROOT, '.dockerignore'), 'utf8'));
  const walk = (rel: string): void => {
    for (const name of readdirSync(join(ROOT, rel))) {
      const path = rel === '' ? name : `${rel}/${name}`;
      if (isIgnored(path)) continue;
      const stat = statSync(join(ROOT, path));
      if (stat.isDirectory()) walk(path);
      else if (stat.isFile()) {
        mkdirSync(dirname(join(to, path)), { recursive: true });
        copyFileSync(join(ROOT, path), join(to, path));
      }
    }
  };
  walk('');
}

function run(
  cmd: string,
  args: string[],
  cwd: string,
  env: Record<string, string>,
  user: string | null = null,
) {
  // The image's USER, where this machine lets us switch to it (as root, with util-linux's setpriv).
  const [uid, gid] = (user ?? '').split(':');
  const asUser = process.getuid?.() === 0 && uid !== undefined && /^\d+$/.test(uid) && uid !== '0';
  const argv = asUser
    ? ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups', cmd, ...args]
    : [cmd, ...args];
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
  return spawnSync(argv[0]!, argv.slice(1), { cwd, env: { ...base, ...env }, encoding: 'utf8' });
}

/** Replays every stage: FROM starts an empty root (the base image is Node itself), COPY/WORKDIR/ENV/RUN act in it. */
function replayBuild(dockerfile: string, workspace: string): Stage[] {
  const context = join(workspace, 'context');
  copyContext(context);
  const globalArgs: Record<string, string> = {};
  const stages: Stage[] = [];
  let stage: Stage | null = null;
  let args: Record<string, string> = {};
  const at = (s: Stage, path: string) => join(s.root, posix.resolve(s.workdir, path));
  for (const { keyword, args: raw } of parseDockerfile(dockerfile)) {
    const text = substitute(raw, { ...globalArgs, ...args });
    if (keyword === 'ARG') {
      const [name, value = ''] = text.split('=');
      if (stage === null) globalArgs[name!] = value;
      else args[name!] = value;
      continue;
    }
    if (keyword === 'FROM') {
      const name = /\sAS\s+(\S+)/i.exec(text)?.[1] ?? `stage-${stages.length}`;
      stage = {
        name,
        root: join(workspace, 'stages', name),
        workdir: '/',
        env: {},
        user: null,
        entrypoint: [],
        cmd: [],
        exposed: [],
        stopSignal: null,
      };
      mkdirSync(stage.root, { recursive: true });
      stages.push(stage);
      args = {};
      continue;
    }
    if (stage === null) throw new Error(`${keyword} before FROM`);
    const s: Stage = stage;
    switch (keyword) {
      case 'WORKDIR':
        s.workdir = posix.resolve(s.workdir, text);
        mkdirSync(at(s, '.'), { recursive: true });
        break;
      case 'ENV':
        for (const m of text.matchAll(/(\w+)=("[^"]*"|\S+)/g)) s.env[m[1]!] = m[2]!.replace(/^"|"$/g, '');
        break;
      case 'COPY': {
        const words = text.split(/\s+/);
        const from = words.find((w) => w.startsWith('--from='))?.slice('--from='.length);
        const [dest, ...sources] = words.filter((w) => !w.startsWith('--')).reverse();
        const source = from === undefined ? context : stages.find((x) => x.name === from)?.root;
        if (source === undefined) throw new Error(`COPY --from=${from}: no such stage`);
        const isDirDest = dest!.endsWith('/') || dest === '.' || sources.length > 1;
        for (const src of sources.reverse()) {
          if (/[*?[]/.test(src)) throw new Error(`COPY ${src}: wildcards are not replayed; teach this test`);
          const path = join(source, posix.resolve('/', src));
          const target =
            isDirDest && !statSync(path).isDirectory()
              ? join(at(s, dest!), posix.basename(src))
              : at(s, dest!);
          mkdirSync(dirname(target), { recursive: true });
          cpSync(path, target, { recursive: true, verbatimSymlinks: true });
        }
        break;
      }
      case 'RUN': {
        const command = text.replace(/--mount=\S+\s*/g, '').trim();
        if (!/^(npm|npx)\s/.test(command)) throw new Error(`RUN ${command}: only npm/npx steps are replayed`);
        // Same command, but from the local npm cache when it has the packages.
        const replayed = command.replace(/^npm ci\b/, 'npm ci --prefer-offline');
        const r = run('sh', ['-c', replayed], at(s, '.'), s.env);
        if (r.status !== 0)
          throw new Error(`RUN ${replayed} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
        break;
      }
      case 'USER':
        s.user = text;
        break;
      case 'ENTRYPOINT':
        s.entrypoint = parseCommand(text);
        break;
      case 'CMD':
        s.cmd = parseCommand(text);
        break;
      case 'EXPOSE':
        s.exposed.push(...text.split(/\s+/).map((p) => Number.parseInt(p, 10)));
        break;
      case 'STOPSIGNAL':
        s.stopSignal = text;
        break;
      case 'LABEL':
        break;
      default:
        throw new Error(`${keyword}: not replayed; teach this test`);
    }
  }
  return stages;
}

/** The Deployment's environment with placeholder Secret values, `$(NAME)` expanded as the kubelet does. */
function deploymentEnv(): Record<string, string> {
  const deployment = parseYaml(readFileSync(join(ROOT, DEPLOYMENT_FILE), 'utf8'));
  const env = deployment.spec.template.spec.containers[0].env as {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { key: string } };
  }[];
  const placeholders: Record<string, string> = { username: 'app', password: 'placeholder-password' };
  const out: Record<string, string> = {};
  for (const v of env) {
    if (v.valueFrom?.secretKeyRef) out[v.name] = placeholders[v.valueFrom.secretKeyRef.key] ?? '';
    else if (v.valueFrom) out[v.name] = 'pgroute-test';
    else
      out[v.name] = (v.value ?? '').replace(/\$\(([A-Za-z_][\w.-]*)\)/g, (all, n: string) => out[n] ?? all);
  }
  return out;
}

describe('Dockerfile build replay (slow: npm ci and tsc)', () => {
  let workspace = '';
  let image: Stage;
  let appDir = '';
  let configPath = '';
  const entrypoint = (args: string[], env: Record<string, string> = {}) => {
    const [cmd, ...rest] = image.entrypoint;
    // The image's `node` is this Node (same major version as the node:20 base image).
    return run(
      cmd === 'node' ? process.execPath : cmd!,
      [...rest, ...args],
      appDir,
      { ...image.env, ...env },
      image.user,
    );
  };

  beforeAll(() => {
    workspace = mkdtempSync(join(tmpdir(), 'pgroute-image-'));
    // mkdtemp makes it 0700: the image's unprivileged USER must be able to reach /app.
    chmodSync(workspace, 0o755);
    const stages = replayBuild(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'), workspace);
    image = stages[stages.length - 1]!;
    appDir = join(image.root, image.workdir);
    const configDir = join(image.root, 'etc/pgroute');
    mkdirSync(configDir, { recursive: true });
    configPath = join(configDir, 'pgroute.yaml');
    copyFileSync(join(ROOT, CONFIG_FILE), configPath);
  }, 180_000);

  afterAll(() => {
    if (workspace !== '') rmSync(workspace, { recursive: true, force: true });
  });

  it('the image holds only package.json, dist and production dependencies', () => {
    expect(readdirSync(appDir).sort()).toEqual(['dist', 'node_modules', 'package.json']);
    // The lock file marks "dev" every package that only development dependencies need.
    const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages)
      .filter(([path, p]) => p.dev === true && path.startsWith('node_modules/'))
      .map(([path]) => path);
    expect(devOnly.length).toBeGreaterThan(0);
    expect(devOnly.filter((path) => existsSync(join(appDir, path)))).toEqual([]);
  });

  it('the image has no TypeScript sources', () => {
    const sources: string[] = [];
    const walk = (dir: string): void => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (/\.(c|m)?ts$/.test(e.name) && !/\.d\.(c|m)?ts$/.test(e.name))
          sources.push(join(dir, e.name));
      }
    };
    walk(join(appDir, 'dist'));
    expect(sources.map((s) => relative(appDir, s))).toEqual([]);
  });

  it('runs as a numeric non-root user, stops on SIGTERM and exposes the ports of the manifests', () => {
    expect(image.user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(image.stopSignal).toBe('SIGTERM');
    expect(image.exposed.sort()).toEqual([6432, 6433, 6434, 8080]);
  });

  it('the entrypoint prints the package version', () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
    const r = entrypoint(['--version']);
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe(`pgroute ${version}`);
  });

  it("the default command's config path is where the Deployment mounts the ConfigMap", () => {
    expect(image.cmd).toEqual(['--config', '/etc/pgroute/pgroute.yaml']);
  });

  it("check accepts the ConfigMap's pgroute.yaml with the Deployment's environment", () => {
    const r = entrypoint(['check', '--config', configPath], deploymentEnv());
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('configuration is valid');
  });

  it('the built image starts, serves a query against the real cluster and exits 0 on SIGTERM', async () => {
    const d = sharedCluster().descriptor;
    const port = await findFreePort('127.0.0.1');
    const file = join(image.root, 'etc/pgroute/static.yaml');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      file,
      toYaml({
        listen: [{ host: '127.0.0.1', port, mode: 'auto' }],
        cluster: { hosts: d.instances.map((i) => `${i.host}:${i.port}`), probe: { user: d.superuser } },
        users: [{ name: d.users.scram.name, password: d.users.scram.password }],
        shutdown: { timeout: '2s' },
      }),
    );
    chmodSync(file, 0o644);
    const [cmd, ...rest] = image.entrypoint;
    const [uid, gid] = (image.user ?? '').split(':');
    const asUser = process.getuid?.() === 0 && uid !== undefined && uid !== '0';
    const argv = [
      ...(asUser ? ['setpriv', `--reuid=${uid}`, `--regid=${gid ?? uid}`, '--clear-groups'] : []),
      cmd === 'node' ? process.execPath : cmd!,
      ...rest,
      '--config',
      file,
    ];
    // Asynchronous: the test talks to the process while it runs.
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: appDir,
      env: { PATH: process.env.PATH ?? '', ...image.env },
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      let rows: unknown[] = [];
      for (let i = 0; i < 100 && rows.length === 0; i++) {
        const c = new pg.Client({
          host: '127.0.0.1',
          port,
          user: d.users.scram.name,
          password: d.users.scram.password,
          database: d.database,
        });
        c.on('error', () => {});
        try {
          await c.connect();
          rows = (await c.query('SELECT 1 AS one')).rows;
          await c.end();
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      expect(rows).toEqual([{ one: 1 }]);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  }, 60_000);

  it('check rejects the same file with an invalid override', () => {
    const r = entrypoint(['check', '--config', configPath], {
      ...deploymentEnv(),
      PGROUTE_POOL__SIZE: 'zero',
    });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('pool.size');
  });
});
