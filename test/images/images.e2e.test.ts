/**
 * The images `make images` builds (make test builds them first): their config and files as
 * unpacked by umoci, and the proxy image run by a real OCI runtime (runc) with a read-only root,
 * UID 65532 and the host network: --help, a slave proxying to and refusing for an upstream on
 * 127.0.0.1, a master writing only its data volume, and both stopped by SIGTERM sent to PID 1.
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  chownSync,
  existsSync,
  lstatSync,
  type Stats,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { serverNodeArgs } from '@safesquid/proxy/node-flags';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort } from '../support/free-port.js';
import { tempDir, type TempDir } from '../support/temp-dir.js';
import { until } from '../support/until.js';
import { waitForPort } from '../support/wait-for-port.js';
import {
  builtImage,
  IMAGES_DIR,
  packageVersion,
  REPO,
  unpack,
  type BuiltImage,
  type RuntimeSpec,
} from './oci-image.js';
import { rootMountOptions, startContainer, uidsOf, type Bind, type RuncContainer } from './runc-container.js';

const run = promisify(execFile);
const NONROOT = 65532;
const EXPECTED = {
  proxy: {
    entrypoint: ['/usr/local/bin/node', ...serverNodeArgs('/app/proxy/dist'), '/app/proxy/dist/cli/main.js'],
    title: 'safesquid/proxy',
  },
  operator: { entrypoint: ['/usr/local/bin/node', '/app/operator/dist/main.js'], title: 'safesquid/operator' },
} as const;
// The image runs as this user, read-only: it may only write where a volume is mounted.
const WRITABLE_DIRS = ['/tmp', '/var/lib/safesquid'];
const SHELLS_AND_PACKAGE_MANAGERS = [
  'sh',
  'bash',
  'dash',
  'ash',
  'zsh',
  'busybox',
  'apt',
  'apt-get',
  'dpkg',
  'npm',
  'npx',
  'yarn',
  'corepack',
];

interface Entry {
  /** As the container sees it: "/etc/passwd". */
  path: string;
  stat: Stats;
}

/** Every path under `root` with its lstat. */
function walk(root: string, rel = ''): Entry[] {
  const out: Entry[] = [];
  for (const name of readdirSync(join(root, rel))) {
    const path = `${rel}/${name}`;
    const stat = lstatSync(join(root, path));
    out.push({ path, stat });
    if (stat.isDirectory()) out.push(...walk(root, path));
  }
  return out;
}

function readTarMember(archive: string, member: string): Promise<string> {
  return run('tar', ['-xOf', archive, member], { maxBuffer: 1 << 24 }).then((r) => r.stdout);
}

if (process.getuid?.() !== 0)
  throw new Error('the image tests unpack images with umoci and run runc: run them as root (as make test and CI do)');

describe.each(['proxy', 'operator'] as const)('image safesquid/%s', (name) => {
  const dir = tempDir(`image-${name}`);
  let image: BuiltImage;
  let rootfs: string;
  let spec: RuntimeSpec;
  let files: Entry[];

  beforeAll(async () => {
    image = builtImage(name);
    ({ rootfs, spec } = await unpack(image, packageVersion(name), join(dir.path, 'bundle')));
    files = walk(rootfs);
  }, 180_000);
  afterAll(() => dir.remove());

  it('is tagged VERSION and VERSION-REVISION, both the same image, with the OCI labels', () => {
    const version = packageVersion(name);
    const labels = image.config.config.Labels ?? {};
    expect(labels).toEqual(
      expect.objectContaining({
        'org.opencontainers.image.title': EXPECTED[name].title,
        'org.opencontainers.image.version': version,
        'org.opencontainers.image.licenses': 'Apache-2.0',
        'org.opencontainers.image.source': expect.stringMatching(/^https:\/\//),
        'org.opencontainers.image.revision': expect.stringMatching(/^[0-9a-f]{40}$/),
      }),
    );
    const revisionTag = `${version}-${labels['org.opencontainers.image.revision'].slice(0, 7)}`;
    expect(image.tags.get(revisionTag)).toBe(image.tags.get(version));
    expect(image.config).toEqual(expect.objectContaining({ architecture: 'amd64', os: 'linux' }));
  });

  it('runs the CLI as 65532 with HOME on /tmp, and one layer per COPY of its Containerfile', () => {
    const c = image.config.config;
    expect(c.User).toBe(`${NONROOT}:${NONROOT}`);
    expect(c.Entrypoint).toEqual(EXPECTED[name].entrypoint);
    expect(c.Env).toEqual(expect.arrayContaining(['HOME=/tmp', 'NODE_ENV=production']));
    expect(c.StopSignal).toBe('SIGTERM');
    const copies = readFileSync(join(REPO, 'images', name, 'Containerfile'), 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('COPY '));
    expect(image.manifest.layers).toHaveLength(copies.length);
    expect(image.config.history?.filter((h) => h.created_by?.startsWith('COPY ')).map((h) => h.created_by)).toEqual(
      copies,
    );
    // What a runtime makes of the image config (umoci's runtime spec): that user, that program.
    expect(spec.process.user).toEqual(expect.objectContaining({ uid: NONROOT, gid: NONROOT }));
    expect(spec.process.args.slice(0, EXPECTED[name].entrypoint.length)).toEqual(EXPECTED[name].entrypoint);
  });

  it('has no shell or package manager, and node runs from it with its own libraries', () => {
    expect(existsSync(join(rootfs, 'bin/sh'))).toBe(false);
    const found = files.filter(
      (f) =>
        !f.stat.isDirectory() &&
        SHELLS_AND_PACKAGE_MANAGERS.includes(f.path.split('/').pop()!) &&
        !f.path.startsWith('/app/'),
    );
    expect(found.map((f) => f.path)).toEqual([]);
    for (const lib of [
      '/lib64/ld-linux-x86-64.so.2',
      '/lib/x86_64-linux-gnu/libc.so.6',
      '/usr/lib/x86_64-linux-gnu/libstdc++.so.6',
      '/lib/x86_64-linux-gnu/libgcc_s.so.1',
    ]) {
      expect(existsSync(join(rootfs, lib))).toBe(true);
    }
    expect(statSync(join(rootfs, 'usr/local/bin/node')).mode & 0o111).toBe(0o111);
    expect(
      readFileSync(join(rootfs, 'etc/ssl/certs/ca-certificates.crt'), 'utf8').split('BEGIN CERTIFICATE').length,
    ).toBeGreaterThan(100);
  });

  it('knows user and group 65532, and no file is writable by it or by anyone outside /tmp and its state dir', () => {
    expect(readFileSync(join(rootfs, 'etc/passwd'), 'utf8')).toMatch(/^nonroot:x:65532:65532:[^:]*:\/tmp:/m);
    expect(readFileSync(join(rootfs, 'etc/group'), 'utf8')).toMatch(/^nonroot:x:65532:$/m);
    expect(readFileSync(join(rootfs, 'etc/nsswitch.conf'), 'utf8')).toMatch(/^passwd:\s+files/m);
    const tmp = lstatSync(join(rootfs, 'tmp'));
    expect((tmp.mode & 0o7777).toString(8)).toBe('1777');
    const outside = (f: { path: string }) => !WRITABLE_DIRS.some((d) => f.path === d || f.path.startsWith(`${d}/`));
    const worldWritable = files.filter((f) => !f.stat.isSymbolicLink() && f.stat.mode & 0o002 && outside(f));
    expect(worldWritable.map((f) => `${f.path} ${(f.stat.mode & 0o7777).toString(8)}`)).toEqual([]);
    const ownedByNonroot = files.filter((f) => (f.stat.uid === NONROOT || f.stat.gid === NONROOT) && outside(f));
    expect(ownedByNonroot.map((f) => f.path)).toEqual([]);
    expect(lstatSync(join(rootfs, 'var/lib/safesquid'))).toEqual(
      expect.objectContaining({ uid: NONROOT, gid: NONROOT }),
    );
    // Everything else belongs to root and is not group-writable (65532's group could not write it either).
    expect(files.filter((f) => f.stat.uid !== 0 && outside(f)).map((f) => f.path)).toEqual([]);
    expect(
      files.filter((f) => !f.stat.isSymbolicLink() && f.stat.mode & 0o020 && outside(f)).map((f) => f.path),
    ).toEqual([]);
  });

  it('has an SBOM and a docker archive with both tags beside it', async () => {
    const version = packageVersion(name);
    const sbom = JSON.parse(readFileSync(join(IMAGES_DIR, name, 'sbom.cdx.json'), 'utf8')) as {
      bomFormat: string;
      metadata: { component: { name: string } };
      components: { name: string; purl?: string }[];
    };
    expect(sbom.bomFormat).toBe('CycloneDX');
    expect(sbom.metadata.component.name).toBe(EXPECTED[name].title);
    const names = sbom.components.map((c) => c.name);
    expect(names).toEqual(
      expect.arrayContaining(['node', 'libc6', 'libstdc++6', 'ca-certificates', 'pino', 'prom-client']),
    );
    expect(names).not.toContain('jest');
    const revisionTag = [...image.tags.keys()].find((t) => t.startsWith(`${version}-`))!;
    const archive = join(IMAGES_DIR, name, `safesquid-${name}-${revisionTag}.tar`);
    const manifest = JSON.parse(await readTarMember(archive, 'manifest.json')) as {
      RepoTags: string[];
      Layers: string[];
    }[];
    expect(manifest).toHaveLength(1);
    // (skopeo writes the names as containerd and docker spell them in full)
    expect(manifest[0].RepoTags.sort()).toEqual(
      [`docker.io/safesquid/${name}:${revisionTag}`, `docker.io/safesquid/${name}:${version}`].sort(),
    );
    expect(manifest[0].Layers).toHaveLength(image.manifest.layers.length);
  });
});

describe('images/containerfile.mjs (what make images reads of a Containerfile)', () => {
  const dir = tempDir('containerfile');
  afterAll(() => dir.remove());
  const parse = (file: string, ...buildArgs: string[]) =>
    run(process.execPath, [
      join(REPO, 'images/containerfile.mjs'),
      file,
      ...buildArgs.flatMap((a) => ['--build-arg', a]),
    ]).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (err: { code: number; stdout: string; stderr: string }) => ({
        code: err.code,
        stdout: err.stdout,
        stderr: err.stderr,
      }),
    );

  it.each(['proxy', 'operator'] as const)(
    'gives the built %s image its config: the umoci build applies the Containerfile',
    async (name) => {
      const image = builtImage(name);
      const labels = image.config.config.Labels!;
      const out = await parse(
        join(REPO, 'images', name, 'Containerfile'),
        `VERSION=${packageVersion(name)}`,
        `REVISION=${labels['org.opencontainers.image.revision']}`,
      );
      expect(out.code).toBe(0);
      const { config } = JSON.parse(out.stdout) as {
        config: { user: string; workdir: string; env: string[]; entrypoint: string[]; labels: Record<string, string> };
      };
      const c = image.config.config;
      expect({
        user: c.User,
        workdir: c.WorkingDir,
        env: [...(c.Env ?? [])].sort(),
        entrypoint: c.Entrypoint,
        labels: c.Labels,
      }).toEqual({
        user: config.user,
        workdir: config.workdir,
        env: [...config.env].sort(),
        entrypoint: config.entrypoint,
        labels: config.labels,
      });
    },
  );

  it('refuses what the image cannot do, naming the line', async () => {
    const file = join(dir.path, 'Containerfile');
    writeFileSync(file, 'FROM scratch\nCOPY base/ /\nRUN apt-get install -y curl\n');
    const run1 = await parse(file);
    expect(run1.code).toBe(2);
    expect(run1.stderr).toContain('line 3 (RUN)');
    writeFileSync(file, 'FROM debian:bookworm\n');
    expect((await parse(file)).stderr).toMatch(/line 1 \(FROM\): only FROM scratch/);
    writeFileSync(file, 'FROM scratch\nENTRYPOINT node /app/main.js\n');
    expect((await parse(file)).stderr).toMatch(/line 2 \(ENTRYPOINT\): only the JSON \(exec\) form/);
    writeFileSync(file, 'FROM scratch\nLABEL a="$NOPE"\n');
    expect((await parse(file)).stderr).toContain('$NOPE is not an ARG or ENV declared above');
  });
});

describe('image safesquid/proxy in runc (read-only root, UID 65532, host network)', () => {
  const dir = tempDir('image-run');
  const stateRoot = join(dir.path, 'runc');
  const containers: RuncContainer[] = [];
  const servers: http.Server[] = [];
  let image: BuiltImage;
  let rootfs: string;
  let spec: RuntimeSpec;
  let n = 0;

  beforeAll(async () => {
    image = builtImage('proxy');
    ({ rootfs, spec } = await unpack(image, packageVersion('proxy'), join(dir.path, 'bundle')));
  }, 180_000);
  afterAll(async () => {
    for (const c of containers) await c.remove();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    dir.remove();
  }, 60_000);

  function container(args: string[], binds: Bind[] = []): RuncContainer {
    const id = `safesquid-image-test-${process.pid}-${++n}`;
    const c = startContainer({
      id,
      spec,
      rootfs,
      entrypoint: image.config.config.Entrypoint!,
      args,
      binds,
      stateRoot,
      bundleDir: join(dir.path, id),
    });
    containers.push(c);
    return c;
  }

  /** A host directory the container's 65532 may write, as a volume with fsGroup would be. */
  function volume(nameOf: string): TempDir {
    const path = join(dir.path, nameOf);
    mkdirSync(path);
    chownSync(path, NONROOT, NONROOT);
    return { path, remove: () => undefined };
  }

  // `safesquid --version` is being added to the CLI; until the built CLI answers it, --help stands in.
  const cliVersion = spawnSync(process.execPath, [join(REPO, 'proxy/dist/cli/main.js'), '--version'], {
    encoding: 'utf8',
  });
  const cliHasVersion = cliVersion.status === 0 && cliVersion.stdout.includes(packageVersion('proxy'));
  (cliHasVersion ? it : it.skip)(
    'runs the CLI: --version (skipped while the built CLI has no --version)',
    async () => {
      const c = container(['--version']);
      expect(await c.child.exitWithin(60_000)).toBe(0);
      expect(c.child.stdout()).toContain(packageVersion('proxy'));
    },
    90_000,
  );

  it('runs the CLI: --help', async () => {
    const c = container(['--help']);
    expect(await c.child.exitWithin(60_000)).toBe(0);
    expect(c.child.stdout()).toMatch(/^usage: safesquid <command>/);
    expect(c.child.stdout()).toMatch(/\bslave\b[\s\S]*\bmaster\b/);
  }, 90_000);

  it('a slave proxies a request to an upstream on 127.0.0.1, refuses a denied one, and exits 0 on SIGTERM to PID 1', async () => {
    const seen: string[] = [];
    const upstream = http.createServer((req, res) => {
      seen.push(req.url ?? '');
      res.end('hello from the upstream');
    });
    servers.push(upstream);
    await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
    const upstreamPort = (upstream.address() as AddressInfo).port;
    const config = join(dir.path, 'slave-config');
    mkdirSync(config);
    writeFileSync(
      join(config, 'policy.yaml'),
      `rules:
  - name: no-admin
    action: deny
    message: The admin area is blocked
    match: {urlRegex: "^/admin"}
  - name: everything-else
    action: allow
accessRestriction:
  defaultAction: deny
  ssrf: {allowRanges: [127.0.0.0/8]}
`,
    );
    const [port, metricsPort] = [await freePort(), await freePort()];
    const state = volume('slave-state');
    const c = container(
      [
        'slave',
        '--policy',
        '/etc/safesquid/policy.yaml',
        '--listen',
        `127.0.0.1:${port}`,
        '--metrics-listen',
        `127.0.0.1:${metricsPort}`,
        '--name',
        'image-slave',
        '--state-dir',
        '/var/lib/safesquid',
      ],
      [
        { source: config, destination: '/etc/safesquid', readonly: true },
        { source: state.path, destination: '/var/lib/safesquid' },
      ],
    );
    await waitForPort(port, c.child, 60_000);
    const pid = await c.initPid();
    expect(uidsOf(pid)).toEqual([NONROOT, NONROOT, NONROOT, NONROOT]);
    expect(rootMountOptions(pid).split(',')).toContain('ro');

    const viaProxy = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = http.request(
          { host: '127.0.0.1', port, path: `http://127.0.0.1:${upstreamPort}${path}`, agent: false },
          (res) => {
            let body = '';
            res.on('data', (d: Buffer) => (body += d.toString()));
            res.on('end', () => resolve({ status: res.statusCode!, body }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    expect(await viaProxy('/hello')).toEqual({ status: 200, body: 'hello from the upstream' });
    const denied = await viaProxy('/admin/users');
    expect(denied.status).toBe(403);
    expect(denied.body).toContain('The admin area is blocked');
    expect(seen).toEqual(['/hello']);

    await c.signal('TERM');
    expect(await c.child.exitWithin(30_000)).toBe(0);
    expect(c.child.exitDescription()).toBe('code 0');
  }, 120_000);

  it('a master keeps its data on the volume (SQLite works) and exits 0 on SIGTERM to PID 1', async () => {
    const port = await freePort();
    const data = volume('master-data');
    const c = container(
      ['master', '--listen', `127.0.0.1:${port}`, '--data-dir', '/var/lib/safesquid/data'],
      [{ source: data.path, destination: '/var/lib/safesquid' }],
    );
    await waitForPort(port, c.child, 60_000);
    const health = await until(
      'the master to answer /healthz',
      () =>
        new Promise<number | undefined>((resolve) => {
          http
            .get({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
              res.resume();
              resolve(res.statusCode === 200 ? 200 : undefined);
            })
            .on('error', () => resolve(undefined));
        }),
      30_000,
    );
    expect(health).toBe(200);
    const written = readdirSync(join(data.path, 'data'));
    expect(written.some((f) => /\.(db|sqlite)/.test(f))).toBe(true);
    for (const f of written) expect(lstatSync(join(data.path, 'data', f)).uid).toBe(NONROOT);

    await c.signal('TERM');
    expect(await c.child.exitWithin(30_000)).toBe(0);
  }, 120_000);
});

describe('image safesquid/operator in runc', () => {
  const dir = tempDir('image-operator-run');
  const stateRoot = join(dir.path, 'runc');
  const containers: RuncContainer[] = [];
  // The operator is written in parallel with its image; its entry point lands during that work.
  const operatorBuilt = existsSync(join(REPO, 'operator/dist/main.js'));
  afterAll(async () => {
    for (const c of containers) await c.remove();
    dir.remove();
  }, 60_000);

  (operatorBuilt ? it : it.skip)(
    'runs safesquid-operator --version (skipped while operator/dist/main.js is missing)',
    async () => {
      const image = builtImage('operator');
      const { rootfs, spec } = await unpack(image, packageVersion('operator'), join(dir.path, 'bundle'));
      const id = `safesquid-image-test-${process.pid}-operator`;
      const c = startContainer({
        id,
        spec,
        rootfs,
        entrypoint: image.config.config.Entrypoint!,
        args: ['--version'],
        stateRoot,
        bundleDir: join(dir.path, id),
      });
      containers.push(c);
      expect(await c.child.exitWithin(60_000)).toBe(0);
      expect(c.child.stdout()).toContain(packageVersion('operator'));
    },
    180_000,
  );
});
