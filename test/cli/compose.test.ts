// docker/compose.yml checked short of `docker compose up` (no Docker daemon runs where the tests run):
// it parses as YAML (Debian's python3-yaml), has the cluster's topology — PostgreSQL, 3 etcd members
// that name each other, 3 workers in distinct zones, 2 proxies — and every vectorgate command in it is
// one our own CLI parser accepts, naming every etcd member and the postgres service.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseCommand } from '../../src/cli/options.ts';

const file = join(import.meta.dirname, '..', '..', 'docker', 'compose.yml');

interface Service { image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; hostname?: string; ports?: string[] }

function loadCompose(): { services: Record<string, Service> } {
  const script = 'import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))';
  const run = spawnSync('/usr/bin/python3', ['-c', script, file], { encoding: 'utf8' });
  assert.equal(run.status, 0, run.stderr);
  return JSON.parse(run.stdout) as { services: Record<string, Service> };
}

test('docker/compose.yml describes PostgreSQL, 3 etcd members, 3 workers in zones and 2 proxies that our CLI accepts', () => {
  const { services } = loadCompose();
  const names = Object.keys(services).sort();
  assert.deepEqual(names, ['etcd-0', 'etcd-1', 'etcd-2', 'postgres', 'proxy-0', 'proxy-1', 'worker-a', 'worker-b', 'worker-c']);
  const etcd = names.filter((n) => n.startsWith('etcd-'));
  for (const name of etcd) {
    const env = services[name]!.environment!;
    assert.equal(env.ETCD_NAME, name);
    for (const peer of etcd) assert.match(env.ETCD_INITIAL_CLUSTER!, new RegExp(`${peer}=http://${peer}:2380`));
  }
  const etcdUrls = etcd.map((n) => `http://${n}:2379`).join(',');
  const zones = new Set<string>();
  for (const name of names.filter((n) => n.startsWith('worker-'))) {
    const service = services[name]!;
    const command = parseCommand(service.command!, {});
    assert.equal(command.name, 'worker');
    assert.equal(command.config.etcdEndpoints, etcdUrls);
    assert.equal(command.config.listenHost, '0.0.0.0');
    assert.equal(service.hostname, name, 'a worker on 0.0.0.0 registers its hostname, which must resolve to it');
    zones.add(command.config.workerZone);
  }
  assert.equal(zones.size, 3, 'one zone per worker');
  for (const name of names.filter((n) => n.startsWith('proxy-'))) {
    const command = parseCommand(services[name]!.command!, {});
    assert.equal(command.name, 'proxy');
    assert.equal(command.config.upstreamHost, 'postgres');
    assert.equal(command.config.etcdEndpoints, etcdUrls);
  }
  assert.deepEqual(names.filter((n) => n.startsWith('proxy-')).map((n) => services[n]!.ports![0]!.split(':')[0]), ['6432', '6433']);
});
