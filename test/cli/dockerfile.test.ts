// docker/Dockerfile checked short of `docker build` (no Docker daemon runs where the tests run):
// multi-stage with a non-root USER and a HEALTHCHECK, every file it copies exists and is not ignored,
// the final stage holds what bin/vectorgate.js needs to run compiled, and its entry point, ports,
// volume and health check agree with the CLI's flags and defaults.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULTS } from '../../src/config.ts';
import { parseCommand } from '../../src/cli/options.ts';

const root = join(import.meta.dirname, '..', '..');
const dockerfile = join(root, 'docker', 'Dockerfile');

interface Instruction { keyword: string; args: string }
interface Stage { from: string; name: string | undefined; instructions: Instruction[] }

/** Instructions per stage: comments dropped, backslash continuations joined (Dockerfile reference). */
function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  const logical = text.replace(/\\\n/g, ' ').split('\n').map((line) => line.trim()).filter((line) => line && !line.startsWith('#'));
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\w+)\s+(.*)$/.exec(line) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args: args.trim() };
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = instruction.args.split(/\s+/);
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      assert.ok(stages.length > 0, `${line} before FROM`);
      stages.at(-1)!.instructions.push(instruction);
    }
  }
  return stages;
}

function all(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

function one(stage: Stage, keyword: string): string {
  const found = all(stage, keyword);
  assert.equal(found.length, 1, `exactly one ${keyword} in the final stage`);
  return found[0]!;
}

interface Copy { from: string | undefined; sources: string[]; destination: string }

function copies(stage: Stage): Copy[] {
  return all(stage, 'COPY').map((args) => {
    const words = args.split(/\s+/);
    const flags = words.filter((w) => w.startsWith('--'));
    const paths = words.filter((w) => !w.startsWith('--'));
    const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length);
    return { from, sources: paths.slice(0, -1), destination: paths.at(-1)! };
  });
}

const stages = parseDockerfile(readFileSync(dockerfile, 'utf8'));
const final = stages.at(-1)!;
const workdir = one(final, 'WORKDIR');

test('two stages: the final one runs as a non-root USER with a HEALTHCHECK', () => {
  assert.ok(stages.length >= 2, 'multi-stage');
  const user = one(final, 'USER');
  assert.doesNotMatch(user, /^(root|0)(:|$)/);
  assert.match(one(final, 'HEALTHCHECK'), /CMD /);
  const chown = all(final, 'RUN').some((run) => run.includes(`chown ${user}:${user} ${one(final, 'VOLUME')}`));
  assert.ok(chown, 'the volume belongs to that user, so PostgreSQL can create its data there');
});

test('every file copied from the build context exists and is not excluded by the .dockerignore', () => {
  const ignoreFile = join(root, 'docker', 'Dockerfile.dockerignore');
  const ignored = existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8').split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#')) : [];
  for (const stage of stages) {
    for (const copy of copies(stage).filter((c) => c.from === undefined)) {
      for (const source of copy.sources) {
        assert.ok(existsSync(join(root, source)), `COPY ${source}: missing from the repository`);
        assert.ok(!ignored.some((pattern) => source === pattern || source.startsWith(pattern + '/')), `COPY ${source} is ignored`);
      }
    }
  }
});

/** The build stage the final stage copies from, and what it copies: [path in the build stage, destination]. */
function shippedFromBuild(): { build: Stage; shipped: [string, string][] } {
  const build = stages.find((s) => s.name !== undefined && copies(final).some((c) => c.from === s.name));
  assert.ok(build, 'COPY --from names an earlier stage');
  const buildDir = one(build, 'WORKDIR');
  const shipped: [string, string][] = [];
  for (const copy of copies(final).filter((c) => c.from === build.name)) {
    for (const source of copy.sources) shipped.push([source.replace(`${buildDir}/`, ''), copy.destination.replace(/^\.\//, '')]);
  }
  return { build, shipped };
}

test('the final stage copies from the build stage what it made or was given, and all bin/vectorgate.js needs', () => {
  const { build, shipped } = shippedFromBuild();
  const given = copies(build).flatMap((c) => (c.destination === './' ? c.sources : [c.destination.replace(/^\.\//, '')]));
  const made = all(build, 'RUN').some((run) => run.includes('npm ci')) ? ['node_modules', 'dist'] : [];
  for (const [source] of shipped) {
    const top = source.split('/')[0]!;
    assert.ok(given.includes(top) || made.includes(top), `COPY --from=${build.name} ${source}: not in that stage`);
  }
  const destinations = shipped.map(([, destination]) => destination);
  for (const needed of ['package.json', 'node_modules', 'sql', 'bin', 'dist']) assert.ok(destinations.includes(needed), `${needed} in ${workdir}`);
});

test('the shipped layout (what the final stage copies, no dev tools) runs the compiled entry point', (t) => {
  const image = mkdtempSync(join(tmpdir(), 'vectorgate-image-'));
  t.after(() => rmSync(image, { recursive: true, force: true }));
  // Copies, not links (node runs a linked entry point from its real path, beside the real src/); in
  // the order the Dockerfile copies them, so their times are as in the image.
  for (const [source, destination] of shippedFromBuild().shipped) {
    mkdirSync(dirname(join(image, destination)), { recursive: true });
    if (source === 'node_modules') symlinkSync(join(root, source), join(image, destination));
    else cpSync(join(root, source), join(image, destination), { recursive: true });
  }
  const entrypoint = JSON.parse(one(final, 'ENTRYPOINT')) as string[];
  assert.deepEqual(entrypoint, ['node', 'bin/vectorgate.js']);
  const env = { ...process.env, VECTORGATE_NO_DIST: '' };
  const settings = spawnSync(process.execPath, [...entrypoint.slice(1), 'settings'], { cwd: image, encoding: 'utf8', env });
  assert.equal(settings.status, 0, settings.stderr);
  assert.match(settings.stdout, /\| `listenPort` \| `VECTORGATE_LISTEN_PORT` \| 6432 \| Port the proxy listens on/);
  const help = spawnSync(process.execPath, [...entrypoint.slice(1), '--help'], { cwd: image, encoding: 'utf8', env });
  assert.equal(help.status, 0, help.stderr);
});

test('CMD, EXPOSE, VOLUME and HEALTHCHECK agree with the CLI: its flags, its default ports', () => {
  const command = parseCommand(JSON.parse(one(final, 'CMD')) as string[], {});
  assert.equal(command.name, 'start');
  const exposed = one(final, 'EXPOSE').split(/\s+/).map(Number);
  assert.equal(command.config.listenPort, DEFAULTS.listenPort);
  assert.equal(command.config.metricsPort, DEFAULTS.metricsPort);
  assert.deepEqual(exposed.sort(), [command.config.listenPort, command.config.metricsPort].sort());
  assert.equal(command.config.listenHost, '0.0.0.0', 'reachable from outside the container');
  assert.equal(command.config.metricsHost, '127.0.0.1', 'metrics leave the container only with a bearer token (metricsBearerToken)');
  assert.equal(command.config.dataDir, one(final, 'VOLUME'));
  const health = JSON.parse(one(final, 'HEALTHCHECK').replace(/^.*?CMD\s+/, '')) as string[];
  assert.equal(health[health.indexOf('-p') + 1], String(command.config.listenPort), 'the health check asks the proxy');
});
