/**
 * The deployment examples are checked, not only shown: examples/nginx passes `nginx -t`; the
 * Kubernetes manifests parse (python3-yaml), their ini is read by tsgi's own reader, and the
 * figures agree with it (probe paths and port, terminationGracePeriodSeconds = --reload-mercy +
 * --shutdown-delay, the memory limit against --reload-on-rss, the Service's target port); the
 * Dockerfiles start tsgi's entry on the official images as a non-root user (hadolint installs
 * neither from npm nor from Debian: these checks stand in for it, and `npx dockerfilelint`
 * finds no issue); the Prometheus config scrapes
 * /metrics on the stats port. Nothing here depends on the runtime, but it runs on all three.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { loadConfig, type TsgiOptions } from '../src/config/index.ts';
import { cleanup, hasNginx, NGINX, ROOT, tempDir } from './helpers.ts';

afterAll(cleanup);

const EXAMPLES = join(ROOT, 'examples');

/** Every document of a YAML file, as JSON (python3-yaml: the same safe loader kubectl's YAML is close to). */
function yamlDocs(file: string): unknown[] {
  const r = spawnSync('python3', ['-c', 'import sys, json, yaml; print(json.dumps(list(yaml.safe_load_all(open(sys.argv[1])))))', file], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${file} does not parse as YAML (python3-yaml: apt-get install -y python3-yaml): ${r.stderr}`);
  return JSON.parse(r.stdout) as unknown[];
}

interface Probe {
  httpGet: { path: string; port: string | number };
}
interface K8sDoc {
  kind: string;
  metadata: { name: string };
  data?: Record<string, string>;
  spec: {
    selector?: { app?: string; matchLabels?: Record<string, string> };
    ports?: Array<{ port: number; targetPort: string | number }>;
    template?: {
      metadata: { labels: Record<string, string> };
      spec: {
        terminationGracePeriodSeconds: number;
        containers: Array<{
          args: string[];
          ports: Array<{ name: string; containerPort: number }>;
          readinessProbe: Probe;
          livenessProbe: Probe;
          startupProbe: Probe;
          resources: { limits: { memory: string } };
          volumeMounts: Array<{ name: string; mountPath: string }>;
        }>;
        volumes: Array<{ name: string; configMap: { name: string } }>;
      };
    };
  };
}

function mebibytes(q: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(q);
  if (!m) throw new Error(`memory quantity ${q}: use Mi or Gi`);
  return Number(m[1]) * (m[2] === 'Gi' ? 1024 : 1);
}

function portOf(addr: string): number {
  return Number(addr.slice(addr.lastIndexOf(':') + 1));
}

describe('deployment examples', () => {
  test.skipIf(!hasNginx)('examples/nginx/tsgi-fleet.conf passes nginx -t (both upstreams, next-upstream, keep-alive)', () => {
    const dir = tempDir('tsgi-nginx-example-');
    copyFileSync('/etc/nginx/uwsgi_params', join(dir, 'uwsgi_params'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      `pid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;\nevents {}\nhttp {\n  access_log off;\n  include ${join(EXAMPLES, 'nginx/tsgi-fleet.conf')};\n}\n`,
    );
    const r = spawnSync(NGINX, ['-t', '-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], { encoding: 'utf8' });
    expect(r.stderr).toMatch(/syntax is ok/);
    expect(r.stderr).toMatch(/test is successful/);
    const conf = readFileSync(join(EXAMPLES, 'nginx/tsgi-fleet.conf'), 'utf8');
    expect(conf).toMatch(/uwsgi_next_upstream error timeout;/);
    expect(conf).toMatch(/proxy_next_upstream error timeout;/);
    expect(conf).toMatch(/keepalive \d+;/);
  });

  test('examples/kubernetes: the ini of the ConfigMap reads with tsgi, and the Deployment and Service agree with it', () => {
    const docs = yamlDocs(join(EXAMPLES, 'kubernetes/tsgi.yaml')) as K8sDoc[];
    const byKind = (k: string) => {
      const d = docs.find((x) => x.kind === k);
      if (!d) throw new Error(`no ${k} in tsgi.yaml`);
      return d;
    };
    const [map, deploy, service] = [byKind('ConfigMap'), byKind('Deployment'), byKind('Service')];
    const ini = map.data?.['app.ini'];
    expect(ini).toBeDefined();
    const file = join(tempDir(), 'app.ini');
    writeFileSync(file, ini ?? '');
    const cmd = loadConfig([file], {}, ROOT);
    if (cmd.kind !== 'serve') throw new Error('the ini did not read as a configuration');
    const o: TsgiOptions = cmd.options;
    expect(o.statsHttp).toBe(true);
    expect(o.shutdownDelay).toBeGreaterThan(0);

    const pod = deploy.spec.template?.spec;
    if (!pod) throw new Error('the Deployment has no pod template');
    const c = pod.containers[0];
    // The ini comes from the ConfigMap, mounted where the container's argument names it.
    const volume = pod.volumes.find((v) => v.configMap.name === map.metadata.name);
    const mount = c.volumeMounts.find((m) => m.name === volume?.name);
    expect(c.args).toEqual([`${mount?.mountPath}/app.ini`]);
    // Probes: readiness and startup on /readyz, liveness on /livez, all on the stats port.
    const port = (name: string | number) => (typeof name === 'number' ? name : c.ports.find((p) => p.name === name)?.containerPort);
    for (const p of [c.readinessProbe, c.startupProbe, c.livenessProbe]) expect(port(p.httpGet.port)).toBe(portOf(o.stats ?? ''));
    expect([c.readinessProbe.httpGet.path, c.startupProbe.httpGet.path, c.livenessProbe.httpGet.path]).toEqual(['/readyz', '/readyz', '/livez']);
    // The kubelet's SIGKILL comes after the shutdown delay and the whole graceful stop.
    expect(pod.terminationGracePeriodSeconds).toBe(o.reloadMercy + o.shutdownDelay);
    // Memory: every worker up to --reload-on-rss, plus room for the master and one fresh worker.
    const limit = mebibytes(c.resources.limits.memory);
    expect(o.reloadOnRss).toBeGreaterThan(0);
    expect(limit).toBeGreaterThanOrEqual(o.processes * o.reloadOnRss + 64);
    expect(limit).toBeLessThan((o.processes + 1) * o.reloadOnRss);
    // The Service sends to the --http-socket port, and selects the Deployment's pods.
    expect(port(service.spec.ports?.[0].targetPort ?? '')).toBe(portOf(o.httpSocket[0]));
    expect(deploy.spec.template?.metadata.labels.app).toBe(service.spec.selector?.app);
  });

  test('examples/docker: one minimal Dockerfile per runtime on its official image, tsgi as the entry, not root', () => {
    const files = readdirSync(join(EXAMPLES, 'docker')).filter((f) => f.startsWith('Dockerfile'));
    expect(files.sort()).toEqual(['Dockerfile.bun', 'Dockerfile.deno', 'Dockerfile.node']);
    const images: Record<string, RegExp> = { node: /^node:20[\w.-]*$/, bun: /^oven\/bun:1\.4[\w.-]*$/, deno: /^denoland\/deno:2\.9[\w.-]*$/ };
    for (const f of files) {
      const runtime = f.split('.')[1];
      const lines = readFileSync(join(EXAMPLES, 'docker', f), 'utf8')
        .split('\n')
        .filter((l) => l.trim() && !l.startsWith('#'));
      const from = lines.filter((l) => l.startsWith('FROM '));
      expect(from.length, f).toBe(1);
      expect(from[0].slice(5).trim(), f).toMatch(images[runtime]);
      // Exec form (JSON arrays): the runtime itself is the container's main process and gets the SIGTERM (no shell between).
      const entry = JSON.parse(lines.find((l) => l.startsWith('ENTRYPOINT '))?.slice(11) ?? 'null') as string[];
      expect(entry[0], f).toBe(runtime);
      expect(entry.at(-1), f).toBe('node_modules/tsgi/bin/tsgi.js');
      expect(JSON.parse(lines.find((l) => l.startsWith('CMD '))?.slice(4) ?? 'null'), f).toEqual(['/etc/tsgi/app.ini']);
      expect(
        lines.find((l) => l.startsWith('USER ')),
        f,
      ).toMatch(/^USER (node|bun|deno)$/);
      expect(lines, f).toContain('STOPSIGNAL SIGTERM');
      for (const l of lines)
        expect(l, `${f}: only the instructions of a minimal image`).toMatch(/^(FROM|WORKDIR|COPY|RUN|USER|EXPOSE|STOPSIGNAL|ENTRYPOINT|CMD) /);
    }
  });

  test('examples/prometheus: scrapes /metrics of several hosts on the stats port', () => {
    const [conf] = yamlDocs(join(EXAMPLES, 'prometheus/prometheus.yml')) as Array<{
      scrape_configs: Array<{ job_name: string; metrics_path: string; static_configs?: Array<{ targets: string[] }> }>;
    }>;
    const jobs = conf.scrape_configs;
    expect(jobs.map((j) => j.metrics_path)).toEqual(jobs.map(() => '/metrics'));
    const targets = jobs.flatMap((j) => j.static_configs ?? []).flatMap((s) => s.targets);
    expect(targets.length).toBeGreaterThan(1);
    for (const t of targets) expect(t).toMatch(/^[\w.-]+:9191$/);
  });
});
