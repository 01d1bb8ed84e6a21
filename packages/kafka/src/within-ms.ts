import { KafkaUnavailableError } from './errors.ts'

/**
 * `promise`, or a KafkaUnavailableError with `message` when it has not settled `ms` after the call: for a
 * kafkajs call whose own retries would hold its caller for minutes while a broker is down. The call itself
 * is not abandoned (kafkajs cannot be told to stop); its outcome after the timeout is ignored, a rejection
 * included, and the timer goes as soon as it settles.
 */
export function withinMs<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new KafkaUnavailableError(message)), ms)
    promise.then(
      (value) => { clearTimeout(timer); resolve(value) },
      (err: unknown) => { clearTimeout(timer); reject(err) },
    )
  })
}
