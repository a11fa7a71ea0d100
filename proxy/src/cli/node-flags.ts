/**
 * V8 options master and slaves run with: the proxy image's ENTRYPOINT and `make run` pass them
 * (a test holds the Containerfile to this list), `--workers` children inherit them. They must be on
 * node's command line: V8 sizes its heap when the process starts, and NODE_OPTIONS refuses them.
 *
 * `--min-semi-space-size=16` keeps the young generation at 16 MiB. By default V8 shrinks it while
 * a process idles and grows it again only when many objects survive, which a proxy's short-lived
 * per-request garbage never makes happen: a slave that had idled collected every ~70 ms under
 * load, promoted objects that live a few hundred ms, and its scavenges took 4-22 ms (bench/proxy,
 * --trace-gc). Measured on one slave pinned to a CPU, 20 s idle after a wrk burst, then 22 640
 * requests at 2 264 req/s (the same sequence twice each): 113 scavenges and 96-111 ms of GC by
 * default, 10 scavenges and 24-26 ms with the flag, that is 4.2-4.9 against 1.1 us of GC per
 * request. The cost is about 24 MB more RSS per process (87 -> 111 MB).
 */
export const SERVER_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=16'];
