/** Polling for a condition in end-to-end tests: the one loop the suites share. */

/** Polls `cond` every `everyMs` until it holds or `ms` have passed; resolves to its last value. */
export async function pollUntil(cond: () => boolean | Promise<boolean>, ms: number, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return true;
}

/** The same, throwing when the condition does not hold within `ms`. */
export async function waitUntil(cond: () => boolean | Promise<boolean>, ms: number): Promise<void> {
  if (!(await pollUntil(cond, ms, 100))) throw new Error(`condition not met within ${ms} ms`);
}
