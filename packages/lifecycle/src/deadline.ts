/** A time `ms` from when it was made, by which a wait, a retry loop or a request must be done. */
export interface Deadline {
  /** Milliseconds left, 0 or less once it has passed; Infinity for a deadline of Infinity. */
  left(): number
  passed(): boolean
}

/**
 * A deadline `ms` from now on the monotonic clock (`performance.now`). Every wait and timeout of opsreview
 * runs on it: on the wall clock, a step back (NTP) held a wait past its timeout for as long as the step, and
 * a step forward ended it at once (docs/reliability.md, "Two clocks"). Dates stay on the wall clock.
 */
export function deadlineIn(ms: number): Deadline {
  const at = performance.now() + ms
  return {
    left: () => at - performance.now(),
    passed: () => performance.now() >= at,
  }
}

/**
 * `promise`, or the error `timedOut` makes when it has not settled `ms` after the call: for a call (a
 * kafkajs request, whose own retries would hold its caller for minutes while a broker is down) that cannot
 * be told to stop. Its outcome after the timeout is ignored, a rejection included, and the timer goes as
 * soon as it settles.
 */
export function settleWithin<T>(promise: Promise<T>, ms: number, timedOut: () => Error): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(timedOut()), ms)
    promise.then(
      (value) => { clearTimeout(timer); resolve(value) },
      (err: unknown) => { clearTimeout(timer); reject(err) },
    )
  })
}
