// Where PostgreSQL's data directory goes. PostgreSQL refuses to run as root, so as root it runs as an
// unprivileged OS user, which must be able to reach its data directory: search (x) permission on every
// parent (https://www.postgresql.org/docs/current/creating-cluster.html). A clone in root's home (mode
// 0700) is out of its reach, so there the data goes to a directory it can reach (relocatedPostgresDir),
// and `<dataDir>.location` records where, for the next start and for the user.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';

export interface OsUser { uid: number; gid: number; name: string }

/** The data directory to use for `requested` (absolute) when PostgreSQL runs as `user`. */
export function placeDataDir(requested: string, user: OsUser, relocateRoot: string | undefined): string {
  if (existsSync(join(requested, 'PG_VERSION'))) return requested;
  const pointer = `${requested}.location`;
  if (existsSync(pointer)) {
    const relocated = readFileSync(pointer, 'utf8').trim();
    mkdirSync(dirname(relocated), { recursive: true, mode: 0o755 });
    return relocated;
  }
  const parent = dirname(requested);
  if (canSearch(user, nearestExisting(parent))) {
    mkdirSync(parent, { recursive: true, mode: 0o755 });
    if (canSearch(user, parent)) return requested;
  }
  if (relocateRoot === undefined || !canSearch(user, nearestExisting(relocateRoot))) {
    throw new Error(unreachableMessage(requested, user, relocateRoot));
  }
  mkdirSync(relocateRoot, { recursive: true, mode: 0o755 });
  if (!canSearch(user, relocateRoot)) throw new Error(unreachableMessage(requested, user, relocateRoot));
  const relocated = join(relocateRoot, `pg-${createHash('sha256').update(requested).digest('hex').slice(0, 16)}`);
  writeFileSync(pointer, relocated + '\n', { mode: 0o644 });
  return relocated;
}

function unreachableMessage(requested: string, user: OsUser, relocateRoot: string | undefined): string {
  const elsewhere = relocateRoot === undefined ? '' : ` nor ${relocateRoot}`;
  return `PostgreSQL runs as OS user ${user.name}, which can reach neither ${dirname(requested)}${elsewhere}: `
    + `set VECTORGATE_RELOCATED_POSTGRES_DIR (or --data-dir) to a directory whose parents all allow it to search (chmod o+x)`;
}

/** Whether `user` can search `dir`: true only when it can also search every parent of it. */
function canSearch(user: OsUser, dir: string): boolean {
  const probe = spawnSync('test', ['-x', dir], { uid: user.uid, gid: user.gid, cwd: '/' });
  return probe.status === 0;
}

function nearestExisting(path: string): string {
  let dir = path;
  while (!existsSync(dir) && dir !== parse(dir).root) dir = dirname(dir);
  return dir;
}
