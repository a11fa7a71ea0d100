import { spawn } from 'node:child_process';
import { BIG_BODY_BYTES } from './upstreams.js';

/**
 * MB/s (10^6 bytes/s) of the 64 MiB HTTPS download with curl, through the proxy's CONNECT or
 * direct; the median of `runs` downloads after a warm-up, each checked to be complete.
 */
export async function connectBulkMBps(httpsPort: number, proxyPort: number | undefined, runs = 3): Promise<number> {
  const speeds: number[] = [];
  // One download more than measured: the first warms up TLS session state and the upstream's JIT.
  for (let i = -1; i < runs; i++) {
    const args = ['-sS', '-k', '-o', '/dev/null', '-w', '%{http_code} %{size_download} %{speed_download}', '--max-time', '60'];
    if (proxyPort !== undefined) args.push('-x', `http://127.0.0.1:${proxyPort}`, '--proxytunnel');
    args.push(`https://127.0.0.1:${httpsPort}/big`);
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      child.stderr.on('data', (d) => (text += d));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(text) : reject(new Error(`curl ${args.join(' ')} exited with ${code}: ${text}`))));
    });
    const [status, size, speed] = out.trim().split(' ').map(Number);
    if (status !== 200 || size !== BIG_BODY_BYTES) throw new Error(`curl got status ${status} and ${size} bytes, expected 200 and ${BIG_BODY_BYTES}`);
    if (i >= 0) speeds.push(speed / 1e6);
  }
  return speeds.sort((a, b) => a - b)[Math.floor(speeds.length / 2)];
}
