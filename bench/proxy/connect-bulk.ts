import { spawn } from 'node:child_process';
import { BIG_BODY_BYTES } from './upstreams.js';

/**
 * MB/s (10^6 bytes/s) of one 64 MiB HTTPS download with curl, through the proxy's CONNECT or
 * direct, checked to be complete.
 */
export async function downloadMBps(
  httpsPort: number,
  proxy: { port: number; credentials?: string } | undefined,
): Promise<number> {
  const args = [
    '-sS',
    '-k',
    '-o',
    '/dev/null',
    '-w',
    '%{http_code} %{size_download} %{speed_download}',
    '--max-time',
    '60',
  ];
  if (proxy) args.push('-x', `http://127.0.0.1:${proxy.port}`, '--proxytunnel');
  if (proxy?.credentials) args.push('--proxy-user', proxy.credentials);
  args.push(`https://127.0.0.1:${httpsPort}/big`);
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve(text) : reject(new Error(`curl ${args.join(' ')} exited with ${code}: ${text}`)),
    );
  });
  const [status, size, speed] = out.trim().split(' ').map(Number);
  if (status !== 200 || size !== BIG_BODY_BYTES)
    throw new Error(`curl got status ${status} and ${size} bytes, expected 200 and ${BIG_BODY_BYTES}`);
  return speed / 1e6;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
