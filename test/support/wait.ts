/** Polls `check` every `intervalMs` until it returns true; throws after `timeoutMs`. */
export async function eventually(check: () => Promise<boolean>, timeoutMs = 10_000, intervalMs = 50, what = "condition"): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await check().catch(() => false)) return;
    await Bun.sleep(intervalMs);
  }
  throw new Error(`${what} not met within ${timeoutMs} ms`);
}
