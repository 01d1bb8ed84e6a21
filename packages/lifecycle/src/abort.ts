/**
 * `p`, or the signal's reason as soon as it is aborted: kafkajs retries a connect or a metadata request
 * for a while (through an outage, for ever), and an operator's Ctrl-C must not wait that out. `p` goes on;
 * its outcome is dropped.
 */
export async function untilAborted<T>(signal: AbortSignal | undefined, p: Promise<T>): Promise<T> {
  if (!signal) return p
  signal.throwIfAborted()
  let onAbort!: () => void
  const aborted = new Promise<never>((_, reject) => { onAbort = () => reject(signal.reason) })
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await Promise.race([p, aborted])
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
