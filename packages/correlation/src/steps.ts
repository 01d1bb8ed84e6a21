// Long work over a large state (a snapshot taken, encoded, decoded, restored) is written as a generator
// that yields between steps, so that a caller may let the event loop run; these run one.

/** What a generator of steps returns, all steps run at once. */
export function finish<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}

/**
 * What a generator of steps returns, with `between` awaited after each step (a turn of the event loop, a
 * heartbeat); undefined when a step threw and `failed` took the error (it may rethrow). A failure of
 * `between` itself is the caller's.
 */
export async function stepped<T>(steps: Generator<undefined, T>, between: () => Promise<void>, failed: (err: unknown) => void): Promise<T | undefined> {
  for (;;) {
    let step: IteratorResult<undefined, T>
    try {
      step = steps.next()
    } catch (err) {
      failed(err)
      return undefined
    }
    if (step.done) return step.value
    await between()
  }
}
