/**
 * A slave's policy sync as the master sees it: long-polls GET /api/v1/policy/bundle with the
 * slave headers, "applies" each new bundle by reporting its hash, and posts sync events. For
 * UI tests that need live slaves in the registry (state, version, skew) but not their proxies.
 */
export interface PollingSlave {
  name: string;
  /** The bundle hash it last received. */
  hash(): string | undefined;
  /** Poll failures since start (a healthy run has none). */
  errors(): string[];
  stop(): Promise<void>;
}

export async function startPollingSlave(o: {
  masterUrl: string;
  token: string;
  name: string;
  version: string;
  skewMs: number;
}): Promise<PollingSlave> {
  let hash: string | undefined;
  let stopped = false;
  const errors: string[] = [];
  const abort = new AbortController();
  const headers = () => ({
    Authorization: `Bearer ${o.token}`,
    'X-SafeSquid-Slave': o.name,
    'X-SafeSquid-Version': o.version,
    'X-SafeSquid-Time': String(Date.now() + o.skewMs),
    ...(hash ? { 'X-SafeSquid-Policy-Hash': hash, 'If-None-Match': `"${hash}"` } : {}),
  });
  const event = async (kind: string, detail: string) => {
    const res = await fetch(`${o.masterUrl}/api/v1/slaves/${o.name}/events`, {
      method: 'POST',
      headers: { ...headers(), 'Content-Type': 'application/json' },
      body: JSON.stringify({ kind, detail, time: Date.now() + o.skewMs }),
      signal: abort.signal,
    });
    if (res.status !== 202)
      throw new Error(`${o.name}: sync event refused with HTTP ${res.status}: ${await res.text()}`);
  };
  const poll = async (wait: number) => {
    const res = await fetch(`${o.masterUrl}/api/v1/policy/bundle?wait=${wait}`, {
      headers: headers(),
      signal: abort.signal,
    });
    if (res.status === 304) return;
    if (res.status !== 200)
      throw new Error(`${o.name}: policy fetch failed with HTTP ${res.status}: ${await res.text()}`);
    await res.arrayBuffer();
    hash = res.headers.get('etag')?.replace(/^"|"$/g, '');
    await event('applied', `policy ${hash} applied`);
  };
  await poll(0);
  // Report the hash now enforced, as a slave's next poll does.
  await poll(0);
  const loop = (async () => {
    while (!stopped) {
      try {
        await poll(20);
      } catch (err) {
        // Like a slave: note it and retry; the test sees the failure through the registry.
        if (!stopped) errors.push(err instanceof Error ? err.message : String(err));
        if (!stopped) await new Promise((r) => setTimeout(r, 500));
      }
    }
  })();
  return {
    name: o.name,
    hash: () => hash,
    errors: () => [...errors],
    async stop() {
      stopped = true;
      abort.abort();
      await loop.catch(() => undefined);
    },
  };
}
