/**
 * The report store contract against a real PostgreSQL 15 (Debian's), one fresh database per test.
 */
import pg from 'pg';
import { openReportStore } from '../../proxy/src/reports/store.js';
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
    expect((await c.query('SELECT version FROM schema_migrations ORDER BY version')).rows).toEqual([{ version: 1 }, { version: 2 }, { version: 3 }]);
    await c.end();
  });

  it('names the server (without credentials) when it cannot connect', async () => {
    await expect(openReportStore({ postgresUrl: 'postgres://u:secret@127.0.0.1:1/none' })).rejects.toThrow(
      /PostgreSQL postgres:\/\/\*\*\*@127\.0\.0\.1:1\/none/,
    );
  });
});
