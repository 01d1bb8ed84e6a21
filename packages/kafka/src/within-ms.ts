import { settleWithin } from '@opsreview/lifecycle/deadline'
import { KafkaUnavailableError } from './errors.ts'

/**
 * `promise`, or a KafkaUnavailableError with `message` (retriable: the caller's retry policy takes it) when it
 * has not settled `ms` after the call (`settleWithin`).
 */
export function withinMs<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  return settleWithin(promise, ms, () => new KafkaUnavailableError(message))
}

/**
 * When `attempt`, a send whose caller gave up on it and which kafkajs may still land, has ended (`'ended'`),
 * or `ms` after the call if it has not (`'abandoned'`: retries not bounded; the timer does not keep a process
 * alive), or once `signal` aborts (`'aborted'`). Never rejects: its failure is an end too.
 */
export function endedWithin(attempt: Promise<unknown>, ms: number, signal?: AbortSignal): Promise<'ended' | 'abandoned' | 'aborted'> {
  return new Promise((resolve) => {
    const end = (why: 'ended' | 'abandoned' | 'aborted') => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', onAbort)
      resolve(why)
    }
    const onAbort = () => end('aborted')
    const timer = setTimeout(() => end('abandoned'), ms)
    timer.unref()
    if (signal?.aborted) return end('aborted')
    signal?.addEventListener('abort', onAbort)
    attempt.then(() => end('ended'), () => end('ended'))
  })
}
