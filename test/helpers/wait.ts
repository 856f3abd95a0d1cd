type Falsy = undefined | null | false | 0 | "";

/** Polls until fn returns a truthy value, and returns it (or throws the last error, or a timeout, after timeoutMs). */
export async function waitFor<T>(fn: () => Promise<T> | T, opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<Exclude<T, Falsy>> {
  const deadline = Date.now() + (opts.timeoutMs ?? 15_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as Exclude<T, Falsy>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      if (lastError) throw lastError;
      throw new Error(`timed out waiting for ${opts.what ?? "a condition"}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 20));
  }
}
