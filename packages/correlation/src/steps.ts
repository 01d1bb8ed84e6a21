// Long work over a large state (a snapshot taken, encoded, decoded, restored) is written as a generator
// that yields between steps, so that a caller may let the event loop run; this runs one in one go.

/** What a generator of steps returns, all steps run at once. */
export function finish<T>(steps: Generator<unknown, T>): T {
  for (;;) {
    const r = steps.next()
    if (r.done) return r.value
  }
}
