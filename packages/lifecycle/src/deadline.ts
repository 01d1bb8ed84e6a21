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
