/**
 * The report store contract against a real PostgreSQL 15 (Debian's), one fresh database per test.
 */
import pg from 'pg';
import { SCHEMA_POSTGRES } from '../../proxy/src/reports/schema.js';
import { openReportStore } from '../../proxy/src/reports/open-report-store.js';
import { describeReportStore } from '../../proxy/src/reports/store-contract.testkit.js';
import { startPostgres, type PostgresServer } from './postgres-server.js';

let server: PostgresServer;
let n = 0;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

describeReportStore('PostgreSQL', async () => openReportStore({ postgresUrl: await server.createDatabase(`t${n++}`) }));

describe('PostgreSQL report store', () => {
  it('migrates once even when two masters open the same database at once', async () => {
    const url = await server.createDatabase('shared');
    const [a, b] = await Promise.all([openReportStore({ postgresUrl: url }), openReportStore({ postgresUrl: url })]);
    const results = await Promise.all([a.ingestBatch('x', 's', []), b.ingestBatch('x', 's', [])]);
    expect(results.map((r) => r.duplicate).sort()).toEqual([false, true]);
    await Promise.all([a.close(), b.close()]);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    expect((await c.query('SELECT version FROM schema_migrations ORDER BY version')).rows).toEqual(
      SCHEMA_POSTGRES.map((_, i) => ({ version: i + 1 })),
    );
    await c.end();
  });

  it('gives a policy hash one id when two masters meet it at once, and both read it back', async () => {
    const url = await server.createDatabase('shared_policies');
    const [a, b] = await Promise.all([openReportStore({ postgresUrl: url }), openReportStore({ postgresUrl: url })]);
    const hash = 'sha256:' + 'c'.repeat(64);
    const batch = (slave: string) =>
      Array.from({ length: 5 }, (_, i) => ({
        time: 1_700_000_000_000 + i,
        slave,
        client: '10.0.0.1',
        method: 'GET',
        host: 'h.example',
        url: 'http://h.example/',
        status: 200,
        bytesUp: 1,
        bytesDown: 2,
        durationMs: 3,
        action: 'allow' as const,
        policyHash: hash,
      }));
    await Promise.all([a.ingestBatch('pa', 'sa', batch('sa')), b.ingestBatch('pb', 'sb', batch('sb'))]);
    const window = { from: 1_700_000_000_000, to: 1_700_000_001_000 };
    for (const store of [a, b]) {
      expect((await store.search({ filter: window, limit: 100 })).records.map((r) => r.policyHash)).toEqual(
        Array(10).fill(hash),
      );
    }
    await Promise.all([a.close(), b.close()]);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    expect((await c.query('SELECT hash FROM policy_hashes')).rows).toEqual([{ hash }]);
    expect(
      Number(
        (await c.query('SELECT count(*) AS n FROM records WHERE policy_hash IS NULL AND policy_id IS NOT NULL')).rows[0]
          .n,
      ),
    ).toBe(10);
    await c.end();
  });

  it('names the server (without credentials) when it cannot connect', async () => {
    await expect(openReportStore({ postgresUrl: 'postgres://u:secret@127.0.0.1:1/none' })).rejects.toThrow(
      /PostgreSQL postgres:\/\/\*\*\*@127\.0\.0\.1:1\/none/,
    );
  });
});
