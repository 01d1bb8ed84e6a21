import { describe, expect, it } from 'vitest'
import { validateCommand } from '@opsreview/schemas'
import { DECISION_TEXT_KEPT, DecisionLog, describeDecision, parseCommand, parseCommandResult } from './decisions.ts'

const INC = 'inc-000000000000000000000001'
const cmd = (id: string, at: string, extra: Record<string, unknown> = {}) =>
  parseCommand(JSON.stringify({ id, type: 'incident.resolve', target: INC, environment: 'production', actor: 'dana', at, ...extra }))!

describe('parseCommandResult and parseCommand', () => {
  it('read the records the correlator and the review publish', () => {
    expect(parseCommandResult(Buffer.from(JSON.stringify({ commandId: 'cmd-12345678', type: 'incident.resolve', target: INC, ok: false, error: 'incident is already resolved' }))))
      .toEqual({ commandId: 'cmd-12345678', type: 'incident.resolve', target: INC, ok: false, error: 'incident is already resolved' })
    expect(cmd('cmd-12345678', '2026-12-01T08:00:00.000Z', { owner: 'erin' })).toMatchObject({ commandId: 'cmd-12345678', actor: 'dana', owner: 'erin', outcome: 'pending' })
  })

  it.each([null, 'not json', '[]', '{"commandId":"x"}', '{"commandId":"cmd-1234","type":"t","target":"x","ok":"yes"}'])('skip what is not a result: %s', (v) => {
    expect(parseCommandResult(v)).toBeUndefined()
  })

  it('keeps a name and a text the schema takes, counted in code points as the schema counts them, not UTF-16 units', () => {
    // U+20000 (CJK Ext. B) is one code point and two UTF-16 units: 200 of them are a valid owner and actor.
    const name = '\u{20000}'.repeat(200)
    const text = '\u{1F600}'.repeat(20_000)
    const d = cmd('cmd-12345678', '2026-12-01T08:00:00.000Z', { type: 'incident.assign', actor: name, owner: name })
    expect(validateCommand({ id: 'cmd-12345678', type: 'incident.assign', target: INC, environment: 'production', actor: name, at: '2026-12-01T08:00:00.000Z', owner: name }).ok).toBe(true)
    expect(d).toMatchObject({ actor: name, owner: name })
    expect(describeDecision(d)).toBe(`owner ${name}`)
    // Taken, and kept as its first 200 code points (below).
    expect(cmd('cmd-12345679', '2026-12-01T08:00:00.000Z', { type: 'incident.note', text }).text).toBe(`${'\u{1F600}'.repeat(DECISION_TEXT_KEPT)}…`)
    // One code point past the schema's bound is still left out.
    const over = cmd('cmd-12345670', '2026-12-01T08:00:00.000Z', { type: 'incident.assign', actor: `${name}x`, owner: `${name}x`, text: `${text}x` })
    expect(over.actor).toBeUndefined()
    expect(over.owner).toBeUndefined()
    expect(over.text).toBeUndefined()
  })

  it('keeps a note\'s first 200 code points, not its whole text: the log holds 50,000 decisions', () => {
    expect(DECISION_TEXT_KEPT).toBe(200)
    const note = (n: number, text: string) => cmd(`cmd-1000${String(n).padStart(4, '0')}`, '2026-12-01T08:00:00.000Z', { type: 'incident.note', text })
    // Up to the bound a note is kept as written; past it, cut at a code point (never inside a surrogate pair) and marked.
    expect(note(1, 'a'.repeat(200)).text).toBe('a'.repeat(200))
    expect(note(2, 'a'.repeat(201)).text).toBe(`${'a'.repeat(200)}…`)
    expect(note(3, `${'a'.repeat(199)}\u{1F600}\u{1F600}`).text).toBe(`${'a'.repeat(199)}\u{1F600}…`)
    const long = 'the pool ran dry under the retry storm; '.repeat(500)
    const log = new DecisionLog()
    for (let n = 0; n < 100; n++) log.recordCommand(note(n, long))
    const kept = log.forTarget(INC)
    expect(kept).toHaveLength(100)
    for (const d of kept) expect(d.text).toBe(`${long.slice(0, 200)}…`)
    expect(describeDecision(kept[0]!)).toBe(`note: ${long.slice(0, 200)}…`)
  })

  it('reads the version an accepted result says shows it, and nothing else as one', () => {
    const result = (extra: object) => parseCommandResult(JSON.stringify({ commandId: 'cmd-12345678', type: 'incident.note', target: INC, ok: true, ...extra }))
    expect(result({ version: 7 })).toMatchObject({ ok: true, version: 7 })
    for (const version of [-1, 1.5, '7', null, 2 ** 53]) expect(result({ version }), String(version)).not.toHaveProperty('version')
    const log = new DecisionLog()
    log.recordCommand(cmd('cmd-12345678', '2026-12-01T08:00:00.000Z', { type: 'incident.note', text: 'x' }))
    log.recordResult(result({ version: 7 })!)
    expect(log.get('cmd-12345678')).toMatchObject({ outcome: 'accepted', version: 7 })
  })

  it('gives a refusal without a reason one', () => {
    expect(parseCommandResult('{"commandId":"cmd-12345678","type":"t","target":"x","ok":false}')?.error).toBe('refused without a reason')
    expect(parseCommandResult('{"commandId":"cmd-12345678","type":"t","target":"x","ok":false,"error":""}')?.error).toBe('refused without a reason')
  })

  it('keeps a refusal\'s reason as it keeps a note: its first 200 code points, however long', () => {
    const refusal = (error: string) => parseCommandResult(JSON.stringify({ commandId: 'cmd-12345678', type: 'incident.note', target: INC, ok: false, error }))?.error
    expect(refusal('x'.repeat(200))).toBe('x'.repeat(200))
    const reason = 'the incident was forgotten by retention; '.repeat(100)
    expect(refusal(reason)).toBe(`${reason.slice(0, 200)}…`)
  })
})

describe('DecisionLog', () => {
  it('joins a command and its result in either order', () => {
    const log = new DecisionLog()
    log.recordCommand(cmd('cmd-a0000001', '2026-12-01T08:00:00.000Z'))
    log.recordResult({ commandId: 'cmd-a0000001', type: 'incident.resolve', target: INC, ok: true })
    log.recordResult({ commandId: 'cmd-b0000001', type: 'incident.resolve', target: INC, ok: false, error: 'incident is already resolved' })
    log.recordCommand(cmd('cmd-b0000001', '2026-12-01T08:05:00.000Z'))
    expect(log.forTarget(INC)).toEqual([
      expect.objectContaining({ commandId: 'cmd-a0000001', actor: 'dana', outcome: 'accepted' }),
      expect.objectContaining({ commandId: 'cmd-b0000001', actor: 'dana', at: '2026-12-01T08:05:00.000Z', outcome: 'refused', error: 'incident is already resolved' }),
    ])
  })

  it('keeps the time of a command\'s first copy when it is published again under its id, and its outcome', () => {
    const log = new DecisionLog()
    log.recordCommand(cmd('cmd-a0000001', '2026-12-01T08:00:00.000Z'))
    log.recordResult({ commandId: 'cmd-a0000001', type: 'incident.resolve', target: INC, ok: true })
    // A keyed retry after a lost acknowledgement: the same id, stamped when it was sent again.
    log.recordCommand(cmd('cmd-a0000001', '2026-12-01T08:03:00.000Z'))
    log.recordCommand(cmd('cmd-b0000001', '2026-12-01T08:01:00.000Z'))
    log.recordCommand(cmd('cmd-b0000001', '2026-12-01T08:02:00.000Z'))
    expect(log.get('cmd-a0000001')).toMatchObject({ at: '2026-12-01T08:00:00.000Z', outcome: 'accepted' })
    expect(log.forTarget(INC).map((d) => [d.commandId, d.at, d.outcome])).toEqual([
      ['cmd-a0000001', '2026-12-01T08:00:00.000Z', 'accepted'],
      ['cmd-b0000001', '2026-12-01T08:01:00.000Z', 'pending'],
    ])
  })

  it('wakes a waiter once every command has its outcome, and frees it', async () => {
    const log = new DecisionLog()
    const waiting = log.waitFor(['cmd-a0000001', 'cmd-b0000001'], 60_000)
    expect(log.waiting).toBe(2)
    log.recordResult({ commandId: 'cmd-a0000001', type: 'incident.assign', target: INC, ok: true })
    log.recordResult({ commandId: 'cmd-b0000001', type: 'incident.resolve', target: INC, ok: false, error: 'incident is already resolved' })
    expect((await waiting).map((d) => d.outcome)).toEqual(['accepted', 'refused'])
    expect(log.waiting).toBe(0)
  })

  it('answers what it knows when the wait runs out, and at once when it already knows', async () => {
    const log = new DecisionLog()
    log.recordResult({ commandId: 'cmd-a0000001', type: 'incident.assign', target: INC, ok: true })
    expect((await log.waitFor(['cmd-a0000001'], 60_000))[0]!.outcome).toBe('accepted')
    expect((await log.waitFor(['cmd-a0000001', 'cmd-c0000001'], 20)).map((d) => d.outcome)).toEqual(['accepted', 'pending'])
    expect(log.waiting).toBe(0)
  })

  it('stops waiting when the request is aborted', async () => {
    const log = new DecisionLog()
    const abort = new AbortController()
    const waiting = log.waitFor(['cmd-a0000001'], 60_000, abort.signal)
    abort.abort()
    expect((await waiting)[0]!.outcome).toBe('pending')
    expect(log.waiting).toBe(0)
  })

  it('forgets the decision read longest ago past its bound', () => {
    const log = new DecisionLog({ maxDecisions: 2 })
    for (const n of [1, 2, 3]) log.recordCommand(cmd(`cmd-0000000${n}`, `2026-12-01T08:0${n}:00.000Z`))
    expect(log.size).toBe(2)
    expect(log.get('cmd-00000001')).toBeUndefined()
    expect(log.forTarget(INC).map((d) => d.commandId)).toEqual(['cmd-00000002', 'cmd-00000003'])
  })
})

describe('describeDecision', () => {
  // The dashboard (decisionTitle in services/review/public/app.js) finds this instant in the title and shows
  // it in the review's zone, named: the API keeps the instant it stores, unambiguous in any zone.
  it('writes a post-mortem\'s time as the instant stored, in UTC', () => {
    expect(describeDecision({ type: 'incident.schedule-postmortem', scheduledFor: '2026-12-03T09:00:00.000Z', owner: 'erin' })).toBe('post-mortem scheduled for 2026-12-03T09:00:00.000Z, owner erin')
    expect(describeDecision({ type: 'incident.schedule-postmortem', scheduledFor: '2026-12-03T09:00:00.000Z' })).toBe('post-mortem scheduled for 2026-12-03T09:00:00.000Z')
  })
})
