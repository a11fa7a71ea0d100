/** `make docs`: writes docs/metrics.md (`node proxy/dist/docs/write-metrics-reference.js`). */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { collectMetricDocs, renderMetricsReference } from './metrics-reference.js';

const file = fileURLToPath(new URL('../../../docs/metrics.md', import.meta.url));
writeFileSync(file, renderMetricsReference(await collectMetricDocs()));
process.stdout.write(`wrote ${file}\n`);
process.exit(0); // timers of the stopped components (DNS cache sweeps) must not keep `make docs` waiting
