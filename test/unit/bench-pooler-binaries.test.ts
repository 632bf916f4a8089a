// --pgbouncer-bin / --pgpool-bin: a given binary is used as it is (version read from it), never installed.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensurePoolerBinaries } from '../../bench/pooler-packages.js';
import { ProcessSupervisor } from '../../bench/process-supervisor.js';

const dir = mkdtempSync(join(tmpdir(), 'pgroute-bench-bin-'));
const supervisor = new ProcessSupervisor();
afterAll(async () => {
  await supervisor.stopAll();
  rmSync(dir, { recursive: true, force: true });
});

/** A stand-in binary that answers --version the way PgBouncer 1.24 does. */
function fakePgbouncer(): string {
  const path = join(dir, 'pgbouncer');
  writeFileSync(path, '#!/bin/sh\necho "PgBouncer 1.24.1"\necho "libevent 2.1.12-stable"\n');
  chmodSync(path, 0o755);
  return path;
}

describe('ensurePoolerBinaries with a given binary', () => {
  it('reads the version of the given binary and installs nothing', async () => {
    const path = fakePgbouncer();
    const logged: string[] = [];
    const found = await ensurePoolerBinaries(['pgbouncer'], {
      supervisor,
      canInstall: false,
      overrides: { pgbouncer: path },
      log: (line) => logged.push(line),
    });
    expect(found.get('pgbouncer')).toEqual({
      kind: 'ready',
      path,
      version: 'PgBouncer 1.24.1',
      versionParts: [1, 24, 1],
    });
    expect(logged).toEqual([]);
  });

  it('reports a given binary that does not exist as missing, with its path', async () => {
    const missing = join(dir, 'no-such-pgbouncer');
    const found = await ensurePoolerBinaries(['pgbouncer'], {
      supervisor,
      canInstall: false,
      overrides: { pgbouncer: missing },
      log: () => {},
    });
    expect(found.get('pgbouncer')).toEqual({ kind: 'missing', reason: `${missing} does not exist` });
  });
});
