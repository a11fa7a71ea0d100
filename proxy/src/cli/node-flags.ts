/**
 * V8 options master and slaves run with: the proxy image's ENTRYPOINT and `make run` pass them
 * (serverNodeArgs; a test holds the Containerfile to it), `--workers` children inherit them. They
 * must be on node's command line: V8 sizes its heap when the process starts, and NODE_OPTIONS
 * refuses them.
 *
 * `--min-semi-space-size=16` keeps the young generation at 16 MiB. By default V8 shrinks it while
 * a process idles and grows it again only when many objects survive, which a proxy's short-lived
 * per-request garbage never makes happen: a slave that had idled collected every ~70 ms under
 * load, promoted objects that live a few hundred ms, and its scavenges took 4-22 ms (bench/proxy,
 * --trace-gc). Measured on one slave pinned to a CPU, 20 s idle after a wrk burst, then 22 640
 * requests at 2 264 req/s (the same sequence twice each): 113 scavenges and 96-111 ms of GC by
 * default, 10 scavenges and 24-26 ms with the flag, that is 4.2-4.9 against 1.1 us of GC per
 * request. The cost is about 24 MB more RSS per process (87 -> 111 MB).
 *
 * `--no-allocation-site-pretenuring`: V8 watches which allocation sites' objects survive
 * collections and, for a site where most do, allocates later objects straight in the old
 * generation, a decision it keeps. A burst of CONNECT tunnels is such a phase for the request
 * parser and the admission code (a tunnel's head lives as long as the tunnel), so afterwards every
 * plain request's head, fields and decision went to the old generation: each scavenge had 2 MB of
 * young objects kept alive from there to copy and promote, and took 8-17 ms instead of 1-3.
 * Measured (bench/proxy harness, slave pinned to a CPU, 9 750 idle tunnels opened and closed,
 * then 3 rounds of 1 290 req/s open loop): scavenges during the rounds 8.2-17.1 ms and p99 4.1-5.3
 * ms by default, 1.2-2.8 ms and p99 1.7-3.9 ms without pretenuring. A proxy's per-request objects
 * are short-lived whatever the last minute looked like; the objects that do live long are
 * promoted by two scavenges as before.
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16', '--no-allocation-site-pretenuring'];

/** The preload that lowers V8's background threads' priority (background-threads.cts), in proxy/dist. */
export const BACKGROUND_THREADS_PRELOAD = 'cli/background-threads.cjs';

/**
 * node's options for a master or slave whose built proxy package is `proxyDist`: the V8 options
 * above and the preload, which must be on the command line too (it has to run before the event
 * loop starts libuv's pool).
 */
export function serverNodeArgs(proxyDist: string): string[] {
  return [...SERVER_NODE_FLAGS, '--require', `${proxyDist}/${BACKGROUND_THREADS_PRELOAD}`];
}
