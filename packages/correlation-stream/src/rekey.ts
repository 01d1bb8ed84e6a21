import type { EachBatchPayload, Producer } from 'kafkajs'
import type { Logger } from 'pino'
import { validateAlertEvent, validateCommand } from '@opsreview/schemas'
import type { EngineInput } from '@opsreview/correlation/types'

export interface RekeyOptions {
  producer: Producer
  inputTopic: string
  commandsTopic: string
  logger: Logger
  /** Where records that are not valid events or commands go, with the reason. */
  deadLetter: (records: { key: string; value: string }[]) => Promise<void>
}

/** The partition key of the engine input: one environment, one engine. */
export function inputKey(input: EngineInput): string {
  return input.type === 'alert' ? input.event.environment : input.type === 'command' ? input.command.environment : 'tick'
}

/**
 * Moves alerts and commands onto the engine's input topic, keyed by environment, so that everything one
 * incident group or problem needs is in one partition. Source offsets are resolved only after the input
 * topic acknowledged (at least once; the engine drops redeliveries by id).
 */
export function createRekeyHandler(opts: RekeyOptions): (payload: EachBatchPayload) => Promise<void> {
  return async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
    if (!isRunning() || isStale()) return
    const messages: { key: string; value: string }[] = []
    const rejected: { key: string; value: string }[] = []
    for (const m of batch.messages) {
      const raw = m.value?.toString() ?? ''
      let input: EngineInput | undefined
      let error: string | undefined
      try {
        const parsed: unknown = JSON.parse(raw)
        if (batch.topic === opts.commandsTopic) {
          const v = validateCommand(parsed)
          if (v.ok) input = { type: 'command', command: v.value }
          else error = JSON.stringify(v.errors)
        } else {
          const v = validateAlertEvent(parsed)
          if (v.ok) input = { type: 'alert', event: v.value }
          else error = JSON.stringify(v.errors)
        }
      } catch (err) {
        error = (err as Error).message
      }
      if (input) messages.push({ key: inputKey(input), value: JSON.stringify(input) })
      else rejected.push({ key: `${batch.topic}/${batch.partition}/${m.offset}`, value: JSON.stringify({ reason: 'invalid', error, value: raw.slice(0, 16_384) }) })
    }
    if (messages.length > 0) await opts.producer.send({ topic: opts.inputTopic, acks: -1, messages })
    if (rejected.length > 0) {
      opts.logger.warn({ topic: batch.topic, partition: batch.partition, count: rejected.length }, 'invalid records dead-lettered')
      await opts.deadLetter(rejected)
    }
    const last = batch.messages.at(-1)
    if (last) resolveOffset(last.offset)
    await heartbeat()
  }
}
