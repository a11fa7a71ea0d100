import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { SlaveRegistry } from './slave-registry.js';
import { parseSnapshot, SlaveRegistryFile } from './slave-registry-file.js';

const logger = pino({ level: 'silent' });
let dir: string;
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'registry-file-'))));
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('SlaveRegistryFile', () => {
  it('writes on close only when something changed, and a new registry loads it', () => {
    const path = join(dir, 'slaves.json');
    const a = new SlaveRegistry();
    const fa = new SlaveRegistryFile(path, a, logger);
    fa.close();
    expect(existsSync(path)).toBe(false);
    a.contact({ name: 'slave-1', address: '127.0.0.5', version: '2.0.0' });
    fa.close();
    const b = new SlaveRegistry();
    new SlaveRegistryFile(path, b, logger).load();
    expect(b.list(undefined)).toEqual([
      expect.objectContaining({ name: 'slave-1', address: '127.0.0.5', version: '2.0.0' }),
    ]);
    expect(readdirSync(dir)).toEqual(['slaves.json']);
  });

  it('moves an unreadable snapshot aside instead of overwriting it, and starts empty', () => {
    const path = join(dir, 'slaves.json');
    writeFileSync(path, '{"format":1,"slaves":[{"name":"x"}]}');
    const r = new SlaveRegistry();
    new SlaveRegistryFile(path, r, logger).load();
    expect(r.list(undefined)).toEqual([]);
    const aside = readdirSync(dir).filter((n) => n.startsWith('slaves.json.unreadable-'));
    expect(aside).toHaveLength(1);
    expect(readFileSync(join(dir, aside[0]), 'utf8')).toContain('"name":"x"');
  });

  it.each([
    ['not JSON', '{', /JSON/],
    ['another format', '{"format":2,"slaves":[]}', /expected \{"format": 1/],
    [
      'an event of an unknown kind',
      JSON.stringify({
        format: 1,
        slaves: [
          {
            name: 's',
            address: 'a',
            version: '',
            policyHash: null,
            lastSyncAt: null,
            lastReportAt: null,
            lastSeenAt: 1,
            clockSkewMs: null,
            events: [{ time: 1, kind: 'boom', detail: '' }],
          },
        ],
      }),
      /slaves\[0\] is not a slave entry/,
    ],
  ])('refuses %s', (_what, text, error) => {
    expect(() => parseSnapshot(text)).toThrow(error);
  });
});
