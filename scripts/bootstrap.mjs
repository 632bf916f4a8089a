#!/usr/bin/env node
// Makes a fresh machine ready: Node version, npm dependencies, PostgreSQL binaries, the unprivileged OS user, and (--build) the compiled output.

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;
const say = (m) => console.error(`[bootstrap] ${m}`);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    say(`failed: ${cmd} ${args.join(' ')}`);
    process.exit(r.status ?? 1);
  }
}

const [major] = process.versions.node.split('.').map(Number);
if (major < 20) {
  say(`Node.js ${process.versions.node} is too old: pgroute needs Node.js 20 or newer.`);
  process.exit(1);
}

// npm dependencies: install when missing or older than the lock file.
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');
if (!existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs)) {
  say('installing npm dependencies (npm ci)');
  run('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error']);
}

function findInitdb() {
  try {
    const bindir = execFileSync('pg_config', ['--bindir'], { encoding: 'utf8' }).trim();
    if (existsSync(join(bindir, 'initdb'))) return join(bindir, 'initdb');
  } catch {
    // no pg_config on PATH
  }
  const base = '/usr/lib/postgresql';
  if (existsSync(base)) {
    const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb')));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions[0]) return join(base, versions[0], 'bin', 'initdb');
  }
  const which = spawnSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' });
  return which.status === 0 ? which.stdout.trim() : null;
}

const needsClients = () =>
  ['psql', 'pgbench'].some((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
if (!findInitdb() || needsClients()) {
  if (isRoot && existsSync('/usr/bin/apt-get')) {
    say('PostgreSQL server binaries or clients missing: installing postgresql with apt-get');
    run('apt-get', ['update', '-qq']);
    run('apt-get', ['install', '-y', '-qq', 'postgresql', 'postgresql-contrib'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } else {
    say('PostgreSQL 15+ server binaries (initdb, pg_ctl) and clients (psql, pgbench) are needed.');
    say('On Debian/Ubuntu: sudo apt-get install -y postgresql');
    process.exit(1);
  }
}

// PostgreSQL refuses to run as root: the local clusters run as the "postgres" OS user.
if (isRoot && spawnSync('id', ['-u', 'postgres'], { stdio: 'ignore' }).status !== 0) {
  say('creating the unprivileged "postgres" OS user for local clusters');
  run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/bin/sh', 'postgres']);
}

if (process.argv.includes('--build')) run('npx', ['tsc', '-p', 'tsconfig.build.json']);
