// Runs after the cluster project's tests whether they passed or failed.
export default async function teardown(): Promise<void> {
  const cp = globalThis.__safesquidControlPlane;
  globalThis.__safesquidControlPlane = undefined;
  await cp?.stop();
}
