/**
 * A real Prometheus server (Debian's unless told) scraping the given targets every second, and its
 * HTTP query API: what a platform team's Prometheus sees of the gateway.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readyInDir, startChild, type ChildHandle } from './child-process.js';
import { freePort } from './free-port.js';
import { tempDir } from './temp-dir.js';
import { until } from './until.js';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';

export interface ScrapeJob {
  job: string;
  /** `127.0.0.1:PORT`, scraped at `/metrics`. */
  targets: string[];
}

export interface Sample {
  metric: Record<string, string>;
  value: number;
}

export interface RunningPrometheus extends ChildHandle {
  url: string;
  /** An instant query; the vector's samples. */
  query(promql: string): Promise<Sample[]>;
}

export async function startPrometheus(jobs: ScrapeJob[]): Promise<RunningPrometheus> {
  return startPrometheusWithConfig(PROMETHEUS, {
    global: { scrape_interval: '1s', scrape_timeout: '1s' },
    scrape_configs: jobs.map((j) => ({ job_name: j.job, static_configs: [{ targets: j.targets }] })),
  });
}

/**
 * `binary` on 127.0.0.1 with `config` (prometheus.yml as an object). A configuration the binary
 * does not know (a field it lacks, a bad value) fails here with its own error message.
 */
export async function startPrometheusWithConfig(binary: string, config: object): Promise<RunningPrometheus> {
  const dir = tempDir('prometheus');
  const port = await freePort();
  const configFile = join(dir.path, 'prometheus.yml');
  writeFileSync(configFile, JSON.stringify(config));
  const child = startChild(
    'prometheus',
    binary,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${join(dir.path, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stopGraceMs: 5000 },
  );
  const url = `http://127.0.0.1:${port}`;
  const ready = await readyInDir(child, dir, () =>
    until(
      'prometheus ready',
      async () => {
        if (!child.running())
          throw new Error(`prometheus exited with ${child.exitDescription()}:\n${child.outputTail()}`);
        return (
          (await fetch(`${url}/-/ready`).then(
            (r) => r.ok,
            () => false,
          )) || undefined
        );
      },
      20_000,
      100,
    ),
  );
  return Object.assign(ready, {
    url,
    async query(promql: string) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as {
        status: string;
        error?: string;
        data?: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
      };
      if (body.status !== 'success' || body.data?.resultType !== 'vector')
        throw new Error(`prometheus query ${promql}: ${body.error ?? JSON.stringify(body)}`);
      return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
    },
  });
}
