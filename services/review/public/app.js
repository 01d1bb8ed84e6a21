// The dashboard: one page the meeting puts on the screen. Plain DOM, no framework, no build.
'use strict'

const $ = (sel) => document.querySelector(sel)
// zone: the time zone the last review or look-back answered in (OPSREVIEW_TIMEZONE or ?tz=); every time on
// the page is shown in it, so the window label, incidents and problems agree.
const state = { cursor: null, search: {}, incident: null, incidentVersion: null, incidentEnvironment: null, problem: null, problemVersion: null, problems: [], zone: 'UTC' }
// Who the token is: a named token (name:secret) is the actor of every decision, and the page shows it
// instead of asking; a bare token's decisions carry the name typed in "You".
const identity = { name: null, reports: false }
// A token in the link (#token=…) is kept for this tab only and taken out of the address bar at once, so it
// stays out of the history, bookmarks and screen shares.
const params = new URLSearchParams(location.hash.slice(1))
if (params.has('token')) {
  if (params.get('token')) sessionStorage.setItem('opsreview-token', params.get('token'))
  params.delete('token')
  const rest = params.toString()
  window.history.replaceState(window.history.state, '', `${location.pathname}${location.search}${rest ? `#${rest}` : ''}`)
}
$('#token').value = sessionStorage.getItem('opsreview-token') ?? ''
// ?dataset=<name> opens a what-if dataset (opsreview replay --index): every call carries it, decisions
// included (the page does not send them, and the API would refuse them with 409), so nothing on this page
// can land on a live incident of the same id.
const dataset = new URLSearchParams(location.search).get('dataset') || null
if (dataset) {
  $('#dataset-banner').textContent = `what-if dataset ${dataset}: a replay with another configuration, not the live review`
  $('#dataset-banner').hidden = false
  document.title = `what-if ${dataset} · ${document.title}`
}
const withDataset = (path) => (dataset && path.startsWith('/api/v1/') && !path.startsWith('/api/v1/dead-letters') ? `${path}${path.includes('?') ? '&' : '?'}dataset=${encodeURIComponent(dataset)}` : path)
$('#actor').value = localStorage.getItem('opsreview-actor') ?? ''
// ?environment=…&service=…&team=… (each repeatable) scope the review and its Markdown, as the API does
// (docs/review-api.md): the page's address is the view to share with a team.
const pageQuery = new URLSearchParams(location.search)
const scopeQuery = ['environment', 'service', 'team'].flatMap((k) => pageQuery.getAll(k).filter(Boolean).map((v) => `&${k}=${encodeURIComponent(v)}`)).join('')
// ?tz=Europe/Berlin: the review, its Markdown and the look-back in that zone; the API checks the name.
const tzQuery = pageQuery.get('tz') ? `&tz=${encodeURIComponent(pageQuery.get('tz'))}` : ''
const scopeLabel = document.createElement('p')
scopeLabel.id = 'scope-label'
scopeLabel.setAttribute('role', 'note')
document.querySelector('header h1').after(scopeLabel)
/** The scope the answer names: what the meeting is looking at. */
function showScope(scope) {
  if (!scope) { scopeLabel.textContent = ''; return }
  const list = (what, all, xs) => (xs.length === 0 ? all : `${what} ${xs.join(', ')}`)
  const parts = [list('environment', 'every environment', scope.environments)]
  if (scope.services.length > 0) parts.push(list('service', '', scope.services))
  if (scope.teams.length > 0) parts.push(list('team', '', scope.teams))
  if (scope.services.length === 0 && scope.teams.length === 0) parts.push('every service')
  scopeLabel.textContent = `Scope: ${parts.join('; ')}`
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') node.className = v
    else if (k.startsWith('on')) node.addEventListener(k.slice(2), v)
    else if (v !== undefined && v !== null) node.setAttribute(k, v)
  }
  for (const c of children.flat()) node.append(c instanceof Node ? c : document.createTextNode(String(c ?? '')))
  return node
}

const formats = new Map()
/** An instant as `2026-12-01 09:00` in the zone of the last answer (`sv-SE` is the ISO order). */
/** A problem's status, and how often it came back after the review resolved it (as in review.md). */
function problemStatus(p) {
  return p.reopenCount > 0 ? `${p.status}, came back ${p.reopenCount}×` : p.status
}

function when(iso) {
  if (!iso) return '–'
  if (!formats.has(state.zone)) formats.set(state.zone, new Intl.DateTimeFormat('sv-SE', { timeZone: state.zone, year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit' }))
  return formats.get(state.zone).format(new Date(iso))
}
/** Takes the zone an answer names; one the browser does not know (an older tz database) leaves times in UTC. */
function useZone(zone) {
  try { new Intl.DateTimeFormat('sv-SE', { timeZone: zone ?? 'UTC' }); state.zone = zone ?? 'UTC' } catch { state.zone = 'UTC' }
  // Times typed on the page (a post-mortem's, a report's) are read in this zone, not the browser's: their labels name it.
  for (const label of document.querySelectorAll('.review-zone')) label.textContent = `(${state.zone})`
}

// Times typed on the page are read with the review's own offset math (packages/review/src/zone-offsets.js,
// served as it is): the page and the API's windows cannot drift apart. A classic script has modules only by
// import(), a promise: a form that reads a typed time waits for it.
let zoneOffsets = null
const zoneOffsetsLoaded = import('./zone-offsets.js').then((m) => { zoneOffsets = m }, (err) => say(`Could not load the time-zone code, so typed times cannot be read: ${err.message}`, true))

/**
 * The instant of a `datetime-local` value (`2026-12-03T10:00`) read as a wall-clock time in an IANA zone
 * (instantOf): a time the clocks skip (02:30 on the spring-forward day) is moved forward by the gap (03:30);
 * a time that happens twice (02:30 on the fall-back day) is its first occurrence. NaN when the value is no
 * local date-time, or the zone code is not there.
 */
function instantInZone(local, zone) {
  const m = /^(\d{4,6})-(\d\d)-(\d\d)T(\d\d):(\d\d)(?::(\d\d)(?:\.(\d{1,3}))?)?$/.exec(local)
  if (!m || !zoneOffsets) return NaN
  // Offsets are whole seconds: the milliseconds go on after.
  const wall = { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]), hour: Number(m[4]), minute: Number(m[5]), second: Number(m[6] ?? 0) }
  return zoneOffsets.instantOf(zone, wall) + Number((m[7] ?? '').padEnd(3, '0'))
}
/**
 * A duration as the Markdown report writes it (duration in packages/review/src/markdown.ts): rounded to the
 * minute first, then split, so 119.5 min is 2 h 0 min on both, not 1 h 60 min here.
 */
function minutes(ms) {
  if (ms === null || ms === undefined) return '–'
  // Seconds under a minute, as the Markdown shows them: "0 min" beside a real outage read as none.
  if (ms > 0 && ms < 59500) return `${Math.max(1, Math.round(ms / 1000))} s`
  const m = Math.round(ms / 60000)
  return m < 60 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`
}
// Availabilities come rounded down to the hundredth by the API (availabilityPctOf): shown as they are.
const availability = (x) => `${x.toFixed(2)} %`
/**
 * A figure in a table cell, each number with its unit on one line: a narrow column broke "100.00 %" and
 * "1 h 0 min" before their unit. "1 h 0 min" may still break after "1 h", so a column is no wider than it was.
 */
const figure = (text) => el('span', {}, text.split(/ (?=\d)/).flatMap((part, i) => [...(i > 0 ? [' '] : []), el('span', { class: 'figure' }, part)]))
/** A count's noun: `1 problem`, `2 problems` (a card read "1 problems to review"). */
const noun = (n, one, many = `${one}s`) => (n === 1 ? one : many)
const sev = (s) => el('span', { class: `sev sev-${s}` }, s)

function say(text, error = false) {
  const s = $('#status')
  s.textContent = text
  s.classList.toggle('error', error)
}

async function api(path, options = {}) {
  const token = $('#token').value.trim()
  const res = await fetch(withDataset(path), { ...options, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...(options.headers ?? {}) } })
  if (!res.ok) {
    const problem = await res.json().catch(() => ({}))
    const fields = (problem.errors ?? []).map((e) => `${e.path} ${e.message}`).join('; ')
    const err = new Error(`${res.status} ${problem.title ?? res.statusText}${fields ? `: ${fields}` : ''}`)
    err.problem = problem
    err.status = res.status
    // Seconds, as the API sends it; `0` is "now", not "no advice" (which a `|| null` made it, waited as 1 s).
    const retryAfter = res.headers.get('retry-after')?.trim()
    err.retryAfterSeconds = retryAfter && /^\d+$/.test(retryAfter) ? Number(retryAfter) : null
    throw err
  }
  return res.headers.get('content-type')?.includes('json') ? res.json() : res.text()
}

async function loadIdentity() {
  try {
    Object.assign(identity, await api('/api/v1/whoami'))
  } catch {
    Object.assign(identity, { name: null, reports: false })
  }
  const actor = $('#actor')
  // A bare token after a named one: the name typed for bare tokens, not the last token's (decisions went in
  // under that person's name).
  if (identity.name !== null) actor.value = identity.name
  else if (actor.readOnly) actor.value = localStorage.getItem('opsreview-actor') ?? ''
  actor.readOnly = identity.name !== null
  $('#identity').textContent = identity.name !== null ? `Decisions are recorded as ${identity.name}, the name of your token.` : ''
  $('#report').hidden = !identity.reports
  $('#report-off').hidden = identity.reports
}

/**
 * The last read begun of each part of the page (the review, the look-back, the search, the incident and
 * problem views, the dead-letter count), and the incident or problem it asked for. Reads of one part overlap (a window chosen and
 * another at once, the refresh after a decision, the reload after a report) and answer in any order: an
 * answer is shown only if no read of its part began after it, so the page shows the last choice, not the
 * slowest answer.
 */
const latestReads = new Map()
function beginRead(part, id = null) {
  const n = (latestReads.get(part)?.n ?? 0) + 1
  latestReads.set(part, { n, id })
  return () => latestReads.get(part).n === n
}
/** The incident or problem the view last asked for: it shows it, or is about to. */
const askedFor = (part) => latestReads.get(part)?.id ?? null

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: columns }, empty))]))
}

/**
 * An open incident someone has taken on: said in its row, not only by the missing Acknowledge button. On a
 * line of its own under the title: beside it, the title's column took the room of the owner's.
 */
const acknowledged = (i) => (i.acknowledgedAt ? el('small', { class: 'acknowledged' }, `acknowledged ${when(i.acknowledgedAt)}`) : '')

function incidentLink(i) {
  return el('button', { type: 'button', class: 'link', onclick: () => showIncident(i.id) }, i.title)
}

// One key per decision: a retry of the same click (a lost answer) is not recorded twice.
const newKey = () => (window.crypto?.randomUUID ? window.crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`)
// The key of each decision sent without an answer (an error, a lost reply), by who decides, target and body:
// trying the same decision again sends the same key, so the API publishes it once however often it is
// retried. An answer, taken or refused, ends it: the next such click is a new decision. Who decides is part
// of it: the same click under another named token is another person's decision, whose body (without an
// actor) is the same; under the first one's key the API refused it (422) or, the key forgotten, published it
// as a new decision of the second person under the first one's key.
const pendingKeys = new Map()

/** Who decides: the token's name, or the name typed in "You" (kept for next time); null after asking for it. */
function actorOrAsk() {
  if (identity.name !== null) return identity.name
  const actor = $('#actor').value.trim()
  if (!actor) { say('Enter your name first: decisions are recorded with it.', true); $('#actor').focus(); return null }
  localStorage.setItem('opsreview-actor', actor)
  return actor
}

/** What the correlator said of the refused ones among a decision's commands, or `otherwise`. */
const refusalsOf = (decisions, otherwise = 'refused') => {
  const refused = decisions.filter((d) => d.outcome === 'refused').map((d) => d.error)
  return refused.length ? refused.join('; ') : otherwise
}
const refusalOf = (problem) => refusalsOf(problem.decisions ?? [], problem.detail ?? 'refused')

/**
 * The last outcome beside each row's buttons, by incident or problem (`incidents/<id>`): the refresh after a
 * decision rebuilds every row, and the outcome, and any later one (refused, taken, still waiting), shows
 * beside the buttons of the same incident or problem in the row shown now.
 */
const rowOutcomes = new Map()
function rowOutput(key) {
  const out = el('output', { class: 'outcome', 'aria-live': 'polite', 'data-outcome-of': key })
  const last = rowOutcomes.get(key)
  if (last) { out.textContent = last.text; out.className = `outcome ${last.kind}` }
  return out
}

/**
 * The decisions being saved, by the row button that sent each (`incidents/<id>/Assign`): a refresh meanwhile
 * (after another decision) rebuilds the rows, and the new button is disabled too until its decision is answered.
 */
const saving = new Set()
function decisionButton(kind, id, label, send) {
  const key = `${kind}/${id}/${label}`
  return el('button', { type: 'button', 'data-decision': key, disabled: saving.has(key) ? '' : null, onclick: (e) => send(e.currentTarget) }, label)
}

/** Shows a decision's outcome in the status line and beside what was clicked. */
function outcome(out, text, kind) {
  say(text, kind === 'refused' || kind === 'error')
  if (!out) return
  // A view's outcome is of the incident or problem decided on: shown while the view still shows it.
  if (out.view) {
    if (state[out.view] === out.id) { out.el.textContent = text; out.el.className = `outcome ${kind}` }
    return
  }
  const key = out.dataset.outcomeOf
  if (key) rowOutcomes.set(key, { text, kind })
  // The row clicked may have been rebuilt since: the outcome goes beside the buttons on the screen.
  const shown = (key && [...document.querySelectorAll('output[data-outcome-of]')].find((o) => o.dataset.outcomeOf === key)) || out
  shown.textContent = text
  shown.className = `outcome ${kind}`
}

/**
 * The versions this page's own decisions made, by `kind/id`: `{ from, to }`, the version decided on and the one
 * the answer gave back. The page reads the item again after each decision, and the buttons are back before that
 * read is: a second decision from the same view (it still shows `from`, or a version before `to`) is sent with
 * `to`. Its own decision is no change of someone else's, and a person making two decisions in a row was
 * otherwise refused.
 */
const made = new Map()

/** The version to send as If-Match for a decision on what shows `shown` (null: none known, none sent). */
function versionToSend(kind, id, shown) {
  if (shown === null || shown === undefined) return null
  const m = made.get(`${kind}/${id}`)
  return m && m.from !== null && shown >= m.from && shown < m.to ? m.to : shown
}

/**
 * Keeps the version an answer gave back as `made`: the document's of an answer that says the index shows the
 * decision. Not a version the correlator made that the index does not show yet: the API compares If-Match with
 * the index, and would refuse the next decision for a version it has not read.
 */
function madeVersion(kind, id, from, r) {
  const to = r?.visible === true ? r.document?.version ?? 0 : 0
  if (to <= 0) return
  const key = `${kind}/${id}`
  const m = made.get(key)
  if (m && m.to >= to) return
  // A decision sent with the version an earlier one made (`to`) goes on from where that one did: the view may still show it.
  made.set(key, { from: m && m.from !== null && from !== null && from >= m.from && from <= m.to ? m.from : from, to })
}

/** A 412's outcome: what changed since the view was read, as the API says it is now. */
function changedText(kind, version, current) {
  const what = kind === 'problems' ? 'problem' : 'incident'
  const now = current ? ` it is now ${current.status} (version ${current.version}${version !== null ? `, was ${version}` : ''})` : ''
  return `Not saved: the ${what} changed since it was shown:${now}. It is shown as it is now: decide again if still meant.`
}

/**
 * Sends one decision and shows what became of it: taken and visible, refused by the correlator (with its
 * reason), or recorded and still waiting, in which case its outcome is polled until the correlator answers.
 * True when the API recorded it (taken, or still waiting); false when it was not sent, refused or not saved.
 */
async function decide(kind, id, body, doneText, viewOrRowOut, control, shownVersion) {
  // In the incident or problem view, the outcome is bound to the one decided on: the meeting may open
  // another before the answer comes, and its view must not read "Acknowledged" for this one's decision.
  const out = viewOrRowOut?.dataset.view ? { view: viewOrRowOut.dataset.view, id, el: viewOrRowOut } : viewOrRowOut
  if (dataset) { outcome(out, `Not saved: what-if dataset ${dataset} is a replay; decide on the live review.`, 'error'); return false }
  const actor = actorOrAsk()
  if (actor === null) return false
  const sent = JSON.stringify(identity.name !== null ? body : { actor, ...body })
  // By the token sent, not the name loaded with one (a token typed without Load is sent as it is): under
  // another named token the decision is that person's, which the API refuses under the first one's key.
  const token = $('#token').value.trim()
  const pending = JSON.stringify([token, kind, id, sent])
  if (!pendingKeys.has(pending)) pendingKeys.set(pending, newKey())
  // The request as sent, to send again as it was: its retries, and the asks whether it shows yet
  // (`untilShown`), are the same request under its key, with the token it was sent with.
  // If-Match: the version the person decided on (`versionToSend`), so that a decision on a view someone else's
  // decisions have changed since is refused (412) instead of taken on what the view no longer shows.
  const version = versionToSend(kind, id, shownVersion)
  const request = { path: `/api/v1/${kind}/${id}`, sent, headers: { authorization: `Bearer ${token}`, 'idempotency-key': pendingKeys.get(pending), ...(version !== null ? { 'if-match': `"${version}"` } : {}) } }
  // Disabled before the first await: a double click is one decision, not two.
  if (control) control.disabled = true
  const button = control?.dataset.decision
  if (button) saving.add(button)
  outcome(out, 'Saving…', 'pending')
  let recorded = false
  try {
    const r = await sendDecision(request, doneText, out)
    pendingKeys.delete(pending)
    recorded = true
    madeVersion(kind, id, version, r)
    if (r.visible) outcome(out, doneText, 'accepted')
    else if (r.decisions?.length && r.decisions.every((d) => d.outcome === 'accepted')) void untilShown(kind, id, request, doneText, out)
    else {
      outcome(out, `${doneText}: recorded, waiting for the correlator…`, 'pending')
      void follow(r.commandIds, doneText, out, kind, id, request)
    }
  } catch (err) {
    if (err.problem?.code === 'DECISION_REFUSED') { pendingKeys.delete(pending); outcome(out, `Refused: ${refusalOf(err.problem)}`, 'refused') }
    // Changed since it was read (another person's decision, or the correlator's): nothing was published. What
    // it is now is shown (the reload below), and the person decides again on that.
    else if (err.status === 412 && err.problem?.code === 'PRECONDITION_FAILED') { pendingKeys.delete(pending); made.delete(`${kind}/${id}`); outcome(out, changedText(kind, version, err.problem.current), 'refused') }
    else if (err.problem?.code === 'IDEMPOTENCY_KEY_IN_FLIGHT') outcome(out, `${doneText}: sent, its answer has not come yet; reload to see it`, 'pending')
    // No answer at all (the connection failed): the request may have been published. Trying again sends the
    // same Idempotency-Key, so it is never applied twice.
    else if (!err.problem) outcome(out, `${doneText}: no answer (${err.message}); it may have been saved: try again, it is not applied twice`, 'error')
    else outcome(out, `Not saved: ${err.message}`, 'error')
  } finally {
    if (control) control.disabled = false
    if (button) {
      saving.delete(button)
      for (const b of document.querySelectorAll('button[data-decision]')) if (b.dataset.decision === button) b.disabled = false
    }
  }
  await refresh(kind, id)
  return recorded
}

/**
 * A decision's PATCH, with `?wait=true`. The same decision sent while its first request is still running
 * (clicked in a row and in the incident view at once, or tried again after a lost answer: the same
 * Idempotency-Key) is answered 409 IDEMPOTENCY_KEY_IN_FLIGHT: it is being published, not refused. After the
 * Retry-After the API gives, up to 60 times, it asks for the answer the first request keeps (`askKept`): sent
 * again with the wait, a kept answer still awaiting its outcome would be waited on a second whole time. When
 * the first request gave the key up instead (its publish failed: 404 IDEMPOTENCY_KEY_UNKNOWN), this one sends
 * the decision again, with the wait, so that its kept answer holds a judgement of whether the index shows it.
 */
async function sendDecision(request, doneText, out) {
  let askOnly = false
  for (let tries = 1; ; tries++) {
    try {
      return askOnly ? await askKept(request) : await api(`${request.path}?wait=true`, { method: 'PATCH', body: request.sent, headers: request.headers })
    } catch (err) {
      // Given up by the first request, or forgotten meanwhile (a restart, another instance, the key bounds):
      // sent again under the same command ids, which the correlator drops if the first one's reached it.
      if (askOnly && err.problem?.code === 'IDEMPOTENCY_KEY_UNKNOWN') { askOnly = false; continue }
      if (err.problem?.code !== 'IDEMPOTENCY_KEY_IN_FLIGHT' || tries >= 60) throw err
      outcome(out, `${doneText}: being sent already, waiting for its answer…`, 'pending')
      await new Promise((r) => setTimeout(r, (err.retryAfterSeconds ?? 1) * 1000))
      askOnly = true
    }
  }
}

/**
 * Asks the API for the answer it keeps for a decision's key: the same body, token and Idempotency-Key, with
 * `Idempotency-Replay: only`, so that a key the API forgot is a 404 IDEMPOTENCY_KEY_UNKNOWN, never a new
 * publish of the decision. Without the wait: the page asks again itself.
 */
const askKept = (request) => api(`${request.path}?wait=false`, { method: 'PATCH', body: request.sent, headers: { ...request.headers, 'idempotency-replay': 'only' } })

/** Polls the outcome of decisions that were recorded but not yet answered, for up to a minute. */
async function follow(commandIds, doneText, out, kind, id, request) {
  for (let i = 0; i < 60; i++) {
    await new Promise((r) => setTimeout(r, 1000))
    try {
      const ds = await Promise.all(commandIds.map((c) => api(`/api/v1/decisions/${encodeURIComponent(c)}`)))
      if (ds.some((d) => d.outcome === 'refused')) { outcome(out, `Refused: ${refusalsOf(ds)}`, 'refused'); await refresh(kind, id); return }
      if (ds.every((d) => d.outcome === 'accepted')) { await untilShown(kind, id, request, doneText, out); return }
    } catch { /* the next poll may answer */ }
  }
  outcome(out, `${doneText}: recorded; the correlator has not answered yet`, 'pending')
}

/** The version a decision's request was sent with (If-Match), null without one. */
const ifMatchOf = (request) => (request.headers['if-match'] ? Number(request.headers['if-match'].slice(1, -1)) : null)

const ASK_DELAYS_MS = [500, 1000, 2000, 4000, 8000]
const ASK_BUDGET_MS = ASK_DELAYS_MS.reduce((a, b) => a + b)

/**
 * A decision the correlator took that the index does not show yet (the indexer is behind): until the API
 * says it shows, the page says so instead of "done" beside the old value, and asks again after 0.5, 1, 2, 4
 * and 8 s (about 15 s), refreshing the page once it shows. It asks the API, not the record (`askKept`): the
 * answer kept for the decision's key, judged at once by the API's own rule. A copy of that rule in the page
 * fell behind it: it took the same words said earlier for the note just added, and said "done" before the
 * note was indexed. An ask the API could not answer (a 503) waits at least its Retry-After, within the same
 * 15.5 s: asked sooner, an API that said when to come back was asked in vain.
 */
async function untilShown(kind, id, request, doneText, out) {
  outcome(out, `${doneText}: taken, waiting for the index`, 'pending')
  const cannotTell = () => outcome(out, `${doneText}: taken; the API can no longer say whether the index shows it, reload later`, 'pending')
  const couldNotAsk = (why) => outcome(out, `${doneText}: taken; could not ask whether the index shows it (${why}), reload later`, 'pending')
  let waited = 0
  let retryAfterMs = 0
  // Why the last ask got no answer: the page then cannot say the index does not show the decision.
  let unanswered = null
  for (const base of ASK_DELAYS_MS) {
    let delay = Math.max(base, retryAfterMs)
    // The last ask comes at the end of the budget (once), unless the API asked to be left alone until after it.
    if (waited + delay > ASK_BUDGET_MS) { delay = ASK_BUDGET_MS - waited; if (delay <= 0 || delay < retryAfterMs) break }
    waited += delay
    await new Promise((r) => setTimeout(r, delay))
    retryAfterMs = 0
    let r
    try {
      r = await askKept(request)
    } catch (err) {
      if (err.problem?.code === 'DECISION_REFUSED') { outcome(out, `Refused: ${refusalOf(err.problem)}`, 'refused'); await refresh(kind, id); return }
      // The API no longer keeps the key (restarted, another instance, its bounds): it published nothing, and
      // no ask of this key can tell any more whether the index shows the decision.
      if (err.problem?.code === 'IDEMPOTENCY_KEY_UNKNOWN') { cannotTell(); return }
      // Not answered (the connection, a 5xx), or another request of the key still running: the next ask may be.
      if (!err.problem || err.problem.code === 'IDEMPOTENCY_KEY_IN_FLIGHT' || err.status >= 500) { retryAfterMs = (err.retryAfterSeconds ?? 0) * 1000; unanswered = err.message; continue }
      couldNotAsk(err.message)
      return
    }
    unanswered = null
    if (r.visible === true) { madeVersion(kind, id, ifMatchOf(request), r); outcome(out, doneText, 'accepted'); await refresh(kind, id); return }
    // A kept answer without `visible` holds no judgement (a 202 `{commandIds}` of a request sent without the
    // wait, which this page does not send): as little to tell as a forgotten key.
    if (r.visible !== false) { cannotTell(); return }
  }
  if (unanswered !== null) couldNotAsk(unanswered)
  else outcome(out, `${doneText}: taken; the index does not show it yet, reload later`, 'pending')
}

/** After a decision: the review, and the incident or problem shown, as they are now. */
async function refresh(kind, id) {
  await loadReview()
  if (kind === 'incidents') await refreshResult(id)
  if (kind === 'incidents' && askedFor('incident') === id) await showIncident(id, false)
  if (kind === 'problems' && askedFor('problem') === id) await showProblem(id, false)
  if (kind === 'incidents' && askedFor('problem')) await showProblem(askedFor('problem'), false)
}

/**
 * Beside a list the review or a view cut at its limit: how many of how many it lists, and `which` of them
 * when the API kept some end of the list ("newest").
 */
function showCut(table, list, what, which) {
  const note = $(`#${table}-cut`)
  note.hidden = list.items.length >= list.total
  note.textContent = note.hidden ? '' : `${which ? `The ${list.items.length} ${which}` : list.items.length} of ${list.total} ${what} shown.`
}

// The views' cut notes, where each list was cut: the timeline (oldest first) loses its oldest alert
// changes, so above it; the problem's incidents (newest first) their oldest, so below.
$('#timeline').before(el('p', { id: 'timeline-cut', class: 'list-cut', role: 'note', hidden: '' }))
$('#problem-incidents').after(el('p', { id: 'problem-incidents-cut', class: 'list-cut', role: 'note', hidden: '' }))

/**
 * What was typed in an open incident's owner box and not recorded yet, by incident: every reload rebuilds the
 * rows (the one after a decision too, a failed one included), and took the name away, so a retry of a failed
 * Assign sent an empty owner under a new Idempotency-Key.
 */
const ownerDrafts = new Map()

/** A row of the window's incident lists: severity, the incident, its services, its opening, `then` (what became of it), its owner. */
function incidentRow(i, then) {
  return el('tr', { 'data-id': i.id },
    el('td', {}, sev(i.severity)), el('td', {}, incidentLink(i), i.customerImpact ? ' · customers affected' : ''), el('td', {}, i.services.join(', ')),
    el('td', {}, when(i.openedAt)), then, el('td', { class: 'owner' }, i.owner ?? '–'))
}

function renderReview(r) {
  // The review's own zone (OPSREVIEW_TIMEZONE or ?tz=): the meeting reads its local times.
  useZone(r.window.timeZone)
  $('#window-label').textContent = `${when(r.window.from)} – ${when(r.window.to)} ${state.zone}`
  const s = r.newIncidents.bySeverity
  $('#summary').replaceChildren(
    el('li', {}, el('strong', {}, r.newIncidents.total), `new ${noun(r.newIncidents.total, 'incident')} (${s.critical} critical)`),
    el('li', {}, el('strong', {}, r.resolvedIncidents.total), 'resolved'),
    el('li', {}, el('strong', {}, r.openIncidents.total), 'still open'),
    el('li', {}, el('strong', {}, r.problems.total), `${noun(r.problems.total, 'problem')} to review`),
    el('li', {}, el('strong', {}, `${r.postmortems.scheduled}/${r.postmortems.total}`), 'post-mortems scheduled'),
  )
  fill($('#open-incidents tbody'), r.openIncidents.items.map((i) => {
    const out = rowOutput(`incidents/${i.id}`)
    const assign = decisionButton('incidents', i.id, 'Assign', async (b) => { if (await decide('incidents', i.id, { owner: owner.value.trim() }, `Owner of “${i.title}” is ${owner.value.trim()}`, out, b, i.version)) ownerDrafts.delete(i.id) })
    // Enter assigns, as in the view's owner form (the row's box is in no form of its own).
    const owner = el('input', {
      'aria-label': `Owner of ${i.title}`, value: ownerDrafts.get(i.id) ?? i.owner ?? '', placeholder: 'owner', oninput: (e) => ownerDrafts.set(i.id, e.currentTarget.value),
      onkeydown: (e) => { if (e.key === 'Enter' && !assign.disabled) { e.preventDefault(); assign.click() } },
    })
    return el('tr', { 'data-id': i.id },
      el('td', {}, sev(i.severity)), el('td', {}, incidentLink(i), i.customerImpact ? ' · customers affected' : '', acknowledged(i)), el('td', {}, i.services.join(', ')),
      el('td', {}, when(i.openedAt)), el('td', { class: 'owner' }, i.owner ?? '–'),
      el('td', {}, el('div', { class: 'decide' }, owner,
        assign,
        i.acknowledgedAt ? '' : decisionButton('incidents', i.id, 'Acknowledge', (b) => decide('incidents', i.id, { acknowledge: true }, `Acknowledged “${i.title}”`, out, b, i.version)),
        decisionButton('incidents', i.id, 'Resolve', (b) => decide('incidents', i.id, { resolve: true }, `Resolved “${i.title}” by hand`, out, b, i.version)),
        out)))
  }), 'No open incidents.', 6)
  showCut('open-incidents', r.openIncidents, 'open incidents')
  // The last day's incidents, those already over included: the meeting's first item. One that opened and
  // resolved overnight was only a count here, and in the post-mortem queue if it needed one.
  fill($('#new-incidents tbody'), r.newIncidents.items.map((i) => incidentRow(i,
    el('td', { class: 'state' }, i.status === 'resolved' ? `resolved ${when(i.resolvedAt)}` : 'open', i.acknowledgedAt ? ', acknowledged' : ''))), 'No new incidents in the window.', 6)
  showCut('new-incidents', r.newIncidents, 'new incidents', 'most severe')
  // As review.md lists them: one that opened before the window (an outage through the night from the evening
  // before) and ended in it was a count in the summary only, in no list of the page.
  fill($('#resolved-incidents tbody'), r.resolvedIncidents.items.map((i) => incidentRow(i, el('td', {}, when(i.resolvedAt)))), 'None resolved in the window.', 6)
  showCut('resolved-incidents', r.resolvedIncidents, 'resolved incidents', 'last resolved')
  fill($('#problems tbody'), r.problems.items.map((p) => {
    const out = rowOutput(`problems/${p.id}`)
    return el('tr', { 'data-id': p.id },
      el('td', {}, p.kind), el('td', { class: 'problem-status' }, problemStatus(p)), el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => showProblem(p.id) }, p.title)), el('td', {}, p.services.join(', ')), el('td', {}, p.incidentCount),
      el('td', { class: 'owner' }, p.owner ?? '–'),
      el('td', {}, el('div', { class: 'decide' },
        p.status === 'candidate' ? decisionButton('problems', p.id, 'Confirm', (b) => decide('problems', p.id, { action: 'confirm' }, `Confirmed “${p.title}”`, out, b, p.version)) : '',
        p.status === 'candidate' ? decisionButton('problems', p.id, 'Dismiss', (b) => decide('problems', p.id, { action: 'dismiss' }, `Dismissed “${p.title}”`, out, b, p.version)) : '',
        p.status === 'confirmed' ? decisionButton('problems', p.id, 'Resolve', (b) => decide('problems', p.id, { action: 'resolve' }, `Resolved “${p.title}”`, out, b, p.version)) : '',
        out)))
  }), 'No candidate or open problems.', 7)
  showCut('problems', r.problems, 'problems')
  // An incident or problem gone from the lists (resolved, dismissed, out of the window) takes its outcome along.
  const listed = new Set([...r.openIncidents.items.map((i) => `incidents/${i.id}`), ...r.problems.items.map((p) => `problems/${p.id}`)])
  for (const key of rowOutcomes.keys()) if (!listed.has(key)) rowOutcomes.delete(key)
  state.problems = r.problems.items
  offerProblems()
  // Out of the queue, which no decision could take them off: the meeting is told why instead (below), and an
  // empty queue does not say that none was needed.
  const forgotten = r.postmortems.forgotten
  fill($('#postmortems tbody'), r.postmortems.items.map((i) => el('tr', {},
    el('td', {}, incidentLink(i)), el('td', {}, i.postmortem.reasons.join(', ')),
    el('td', { class: i.postmortem.scheduledFor ? '' : 'bad' }, i.postmortem.scheduledFor ? when(i.postmortem.scheduledFor) : 'not scheduled'),
    el('td', {}, i.postmortem.owner ?? '–'))), forgotten.total > 0 ? 'No post-mortem to schedule here.' : 'No post-mortem needed.', 4)
  showCut('postmortems', r.postmortems, 'post-mortems')
  fill($('#postmortems-forgotten tbody'), forgotten.items.map((i) => el('tr', {},
    el('td', {}, incidentLink(i)), el('td', {}, i.postmortem.reasons.join(', ')),
    el('td', { class: 'bad' }, `forgotten by the correlator ${when(i.postmortem.forgottenAt)}`))), '', 3)
  $('#postmortems-forgotten-part').hidden = forgotten.total === 0
  showCut('postmortems-forgotten', forgotten, 'forgotten post-mortems')
  fill($('#service-levels tbody'), r.serviceLevels.map((l) => el('tr', {},
    el('td', {}, l.service), el('td', { class: l.availabilityPct < 99.9 ? 'bad' : 'good' }, figure(availability(l.availabilityPct))),
    el('td', {}, figure(minutes(l.downtimeMs))), el('td', {}, figure(minutes(l.degradedMs ?? 0))), el('td', {}, l.interruptions > 1 ? `${l.interruptions} (longest ${minutes(l.longestInterruptionMs)})` : l.interruptions), el('td', {}, l.incidents), el('td', {}, figure(minutes(l.mttaMs))), el('td', {}, figure(minutes(l.mttrMs))))),
  'No service had alerts or incidents.', 8)
  renderResponseTimes(r.responseTimes)
  renderTrend(r.trend)
}

/**
 * The part, note, table and figure's name of the review's (`response-times`) or the look-back's response times:
 * every status sets each of them, so a render leaves nothing of the one before. False when none is configured.
 */
function showResponseTimesPart(id, t) {
  $(`#${id}-part`).hidden = t.status === 'not-configured'
  if (t.status === 'not-configured') return false
  const note = $(`#${id}-note`)
  note.hidden = t.status === 'ok'
  note.textContent = t.status === 'unavailable' ? `No response times from Prometheus: ${t.error}.` : ''
  $(`#${id}`).hidden = t.status !== 'ok'
  $(`#${id}-name`).textContent = t.name
  return true
}
/** A response time; a service without requests has none. */
const responseMs = (n) => (n === null ? '–' : `${n} ms`)

/** Prometheus's figure per service; the part is hidden when no Prometheus is configured, and says so when it gave none (down, slow, a refused query). */
function renderResponseTimes(t) {
  if (!showResponseTimesPart('response-times', t)) return
  fill($('#response-times tbody'), t.status === 'ok' ? t.items.map((i) => el('tr', {}, el('td', {}, i.service), el('td', {}, figure(responseMs(i.ms))))) : [], 'No requests measured.', 2)
}

function renderTrend(days) {
  const max = Math.max(1, ...days.map((d) => d.total))
  const w = 1000 / Math.max(1, days.length)
  const ns = 'http://www.w3.org/2000/svg'
  const svg = document.createElementNS(ns, 'svg')
  svg.setAttribute('viewBox', '0 0 1000 140')
  svg.setAttribute('role', 'img')
  svg.setAttribute('aria-label', `Incidents per day: ${days.map((d) => `${d.day} ${d.total}`).join(', ')}`)
  days.forEach((d, i) => {
    for (const [cls, value] of [['total', d.total], ['critical', d.critical]]) {
      const h = (value / max) * 120
      const rect = document.createElementNS(ns, 'rect')
      Object.entries({ class: cls, x: i * w + 2, y: 130 - h, width: w - 4, height: h }).forEach(([k, v]) => rect.setAttribute(k, v))
      const title = document.createElementNS(ns, 'title')
      title.textContent = `${d.day}: ${d.total} ${noun(d.total, 'incident')}, ${d.critical} critical`
      rect.append(title)
      svg.append(rect)
    }
  })
  $('#trend').replaceChildren(svg)
  // The bars carry no axis: the caption names the days they span.
  const span = days.length > 0 ? `${days[0].day} – ${days.at(-1).day}, a bar a day. ` : ''
  // The peak of the days, not of the scale (at least 1): 30 days without an incident read "Peak 1 a day".
  const peak = Math.max(0, ...days.map((d) => d.total))
  $('#trend-caption').textContent = `${span}${peak === 0 ? 'No incidents.' : `Grey: all incidents; red: critical. Peak ${peak} a day.`}`
}

function renderDeadLetters(d) {
  const count = $('#dead-letter-count')
  count.textContent = String(d.total)
  $('#dead-letter-noun').textContent = noun(d.total, 'dead letter')
  $('#dead-letters').classList.toggle('bad', d.total > 0)
  $('#dead-letters').title = d.stale ? `Kafka did not answer; counted at ${when(d.at)} ${state.zone}` : `Counted at ${when(d.at)} ${state.zone}`
  $('#dead-letter-topics').replaceChildren(...d.topics.map((t) => el('li', {}, el('code', {}, t.topic), `: ${t.count}${t.exists ? '' : ' (no such topic yet)'}`)))
}

async function loadDeadLetters() {
  // A count asked earlier that answers later is older: it must not replace a newer one.
  const current = beginRead('dead-letters')
  try {
    const summary = await api('/api/v1/dead-letters/summary')
    if (current()) renderDeadLetters(summary)
  } catch (err) {
    if (!current()) return
    $('#dead-letter-count').textContent = '?'
    $('#dead-letter-noun').textContent = 'dead letters'
    $('#dead-letter-topics').replaceChildren(el('li', {}, `Could not count: ${err.message}`))
  }
}

// The status line's text of each load that failed last time: its next success clears it, unless something
// else (a decision's outcome) has been said since.
const loadErrors = new Map()
function loadFailed(what, text) {
  loadErrors.set(what, text)
  say(text, true)
}
function loaded(what) {
  const s = $('#status')
  if (s.textContent === 'Loading…' || (loadErrors.has(what) && s.textContent === loadErrors.get(what))) say('')
  loadErrors.delete(what)
}

/** When the review on the page was read; null before the first. */
let reviewLoadedAt = null
/**
 * The window of the review on the page, which its Markdown is of: asked again for `since`, it ended when the
 * button was pressed, and the notes of a meeting that read the page for half an hour counted another window.
 */
let shownWindow = null
function markReviewStale(stale) {
  for (const part of document.querySelectorAll('.review-part')) part.classList.toggle('stale', stale)
  $('#review-stale').hidden = !stale
  $('#review-stale').textContent = stale ? `Not current: the review could not be reloaded; the figures below are as read at ${when(reviewLoadedAt)} ${state.zone}.` : ''
}

async function loadReview() {
  const since = $('#window').value
  $('#markdown').href = '#'
  void loadDeadLetters()
  const current = beginRead('review')
  try {
    const review = await api(`/api/v1/review?since=${since}${scopeQuery}${tzQuery}`)
    if (!current()) return
    renderReview(review)
    showScope(review.scope)
    shownWindow = review.window
    reviewLoadedAt = new Date().toISOString()
    markReviewStale(false)
    loaded('review')
  } catch (err) {
    if (!current()) return
    loadFailed('review', `Could not load the review: ${err.message}`)
    if (reviewLoadedAt !== null) markReviewStale(true)
  }
}

// The monthly or quarterly look-back (GET /api/v1/lookback): the page's scope, dataset and zone, the
// period chosen here. Loaded when the page loads and when the period changes, not after every decision.
/** A change from the previous period, signed; '' when the API gives none (null: no figure on one side). */
function signed(n, format) {
  if (n === null || n === undefined) return ''
  return n === 0 ? '±0' : `${n > 0 ? '+' : '−'}${format(Math.abs(n))}`
}
const changeOf = (n, format, worseWhenUp = true) => {
  const text = signed(n, format)
  if (!text) return ''
  return el('small', { class: `change${n === 0 ? '' : (n > 0) === worseWhenUp ? ' worse' : ' better'}` }, ` (${text})`)
}
const count = String
const pp = (x) => `${x.toFixed(2)} pp`

/** `2026-11` → `2026-10`, `2026-Q1` → `2025-Q4`; step +1 the other way. */
function shiftPeriod(label, step) {
  const [y, rest] = label.split('-')
  if (rest.startsWith('Q')) {
    const n = Number(y) * 4 + Number(rest.slice(1)) - 1 + step
    return `${Math.floor(n / 4)}-Q${(n % 4) + 1}`
  }
  const n = Number(y) * 12 + Number(rest) - 1 + step
  return `${Math.floor(n / 12)}-${String((n % 12) + 1).padStart(2, '0')}`
}

/** The `at` choices, from the API's default (the last complete period, by the server's clock and zone): the running one and a year back. */
function offerPeriods(lastComplete, kind) {
  const select = $('#lookback-at')
  if (select.dataset.kind === kind && select.dataset.base === lastComplete) return
  const labels = [shiftPeriod(lastComplete, 1), ...Array.from({ length: kind === 'month' ? 12 : 8 }, (_, i) => shiftPeriod(lastComplete, -i))]
  select.replaceChildren(el('option', { value: '' }, `last complete (${lastComplete})`),
    ...labels.map((l, i) => el('option', { value: l }, i === 0 ? `${l} (running)` : l)))
  select.dataset.kind = kind
  select.dataset.base = lastComplete
}

function lookbackQuery() {
  const at = $('#lookback-at').value
  return `period=${$('#lookback-period').value}${at ? `&at=${encodeURIComponent(at)}` : ''}${scopeQuery}${tzQuery}`
}

/**
 * The period the page shows, named, for its Markdown: "last complete" asked again at the click named the
 * period after it once one ended while the page was open.
 */
let shownPeriod = null

function renderLookback(l) {
  useZone(l.period.timeZone)
  const p = l.period
  shownPeriod = { kind: p.kind, label: p.label }
  $('#lookback-label').textContent = `${p.label}: ${when(p.from)} – ${when(p.to)} ${state.zone}`
  for (const n of document.querySelectorAll('.lookback-previous')) n.textContent = l.previous.label
  $('#lookback-running').hidden = p.complete
  $('#lookback-running').textContent = p.complete ? '' : `The period is still running: service levels and response times up to ${when(p.until)} ${state.zone}.`
  const t = l.totals
  const c = t.change
  const card = (field, value, text, change) => el('li', { 'data-total': field }, el('strong', {}, value), text, change)
  $('#lookback-totals').replaceChildren(
    card('incidents', t.incidents.total, `${noun(t.incidents.total, 'incident')} (${t.incidents.critical} critical, ${t.incidents.warning} warning, ${t.incidents.info} info)`, changeOf(c.incidents, count)),
    card('downtime', minutes(t.downtimeMs), 'down, summed over services', changeOf(c.downtimeMs, minutes)),
    card('degraded', minutes(t.degradedMs), 'degraded, summed over services', changeOf(c.degradedMs, minutes)),
    card('mtta', minutes(t.mttaMs), 'MTTA', changeOf(c.mttaMs, minutes)),
    card('mttr', minutes(t.mttrMs), 'MTTR', changeOf(c.mttrMs, minutes)),
    card('postmortems', `${t.postmortems.scheduled}/${t.postmortems.required}`, `post-mortems scheduled of required${t.postmortems.unscheduled > 0 ? ` (${t.postmortems.unscheduled} not${t.postmortems.forgotten > 0 ? `, ${t.postmortems.forgotten} no longer schedulable here` : ''})` : ''}`, changeOf(c.postmortemsRequired, count)),
    card('problems', t.problems, `${noun(t.problems, 'problem')} behind them`, changeOf(c.problems, count)),
  )
  $('#lookback-totals').querySelector('[data-total="postmortems"] strong').classList.toggle('bad', t.postmortems.unscheduled > 0)
  fill($('#lookback-services tbody'), l.services.map((v) => el('tr', { 'data-service': v.service },
    el('th', { scope: 'row' }, v.service),
    el('td', { 'data-field': 'availability', class: v.availabilityPct < 99.9 ? 'bad' : 'good' }, figure(availability(v.availabilityPct)), changeOf(v.change.availabilityPct, pp, false)),
    el('td', { 'data-field': 'downtime' }, figure(minutes(v.downtimeMs)), changeOf(v.change.downtimeMs, minutes)),
    el('td', { 'data-field': 'degraded' }, figure(minutes(v.degradedMs)), changeOf(v.change.degradedMs, minutes)),
    el('td', { 'data-field': 'interruptions' }, v.interruptions),
    el('td', { 'data-field': 'incidents' }, v.incidents.total, changeOf(v.change.incidents, count)),
    el('td', { 'data-field': 'critical' }, v.incidents.critical), el('td', { 'data-field': 'warning' }, v.incidents.warning), el('td', { 'data-field': 'info' }, v.incidents.info),
    el('td', { 'data-field': 'mtta' }, figure(minutes(v.mttaMs)), changeOf(v.change.mttaMs, minutes)),
    el('td', { 'data-field': 'mttr' }, figure(minutes(v.mttrMs)), changeOf(v.change.mttrMs, minutes)))),
  'No service had alerts or incidents in the period or the one before.', 11)
  fill($('#lookback-problems tbody'), l.problems.items.map((q) => el('tr', { 'data-id': q.id },
    el('td', {}, q.kind), el('td', { class: 'problem-status' }, problemStatus(q)), el('td', {}, el('button', { type: 'button', class: 'link', onclick: () => showProblem(q.id) }, q.title)),
    el('td', {}, q.services.join(', ')), el('td', { 'data-field': 'in-period' }, q.incidentsInPeriod), el('td', {}, q.incidentsInPrevious), el('td', {}, q.incidentCount),
    el('td', {}, el('time', { datetime: q.lastSeenAt }, when(q.lastSeenAt))))),
  'No problem behind the period\'s incidents.', 8)
  showCut('lookback-problems', l.problems, 'problems')
  renderLookbackResponseTimes(l.responseTimes)
}

/** As the review's response times (renderResponseTimes), each row with the previous period's and the change: slower is worse. */
function renderLookbackResponseTimes(t) {
  if (!showResponseTimesPart('lookback-response-times', t)) return
  const change = (n) => el('td', { 'data-field': 'change', class: `change${n === null || n === 0 ? '' : n > 0 ? ' worse' : ' better'}` }, signed(n, (x) => `${x} ms`) || '–')
  fill($('#lookback-response-times tbody'), t.status === 'ok' ? t.items.map((i) => el('tr', { 'data-service': i.service },
    el('th', { scope: 'row' }, i.service), el('td', { 'data-field': 'ms' }, figure(responseMs(i.ms))), el('td', { 'data-field': 'previous' }, figure(responseMs(i.previousMs))), change(i.change))) : [],
  'No requests measured.', 4)
}

async function loadLookback() {
  const current = beginRead('lookback')
  try {
    const l = await api(`/api/v1/lookback?${lookbackQuery()}`)
    if (!current()) return
    if (!$('#lookback-at').value) offerPeriods(l.period.label, l.period.kind)
    renderLookback(l)
    loaded('lookback')
  } catch (err) {
    if (!current()) return
    loadFailed('lookback', `Could not load the look-back: ${err.message}`)
  }
}

const resultRow = (i) => el('tr', { 'data-id': i.id }, el('td', {}, sev(i.severity)), el('td', {}, incidentLink(i)), el('td', {}, i.services.join(', ')), el('td', {}, when(i.openedAt)), el('td', {}, i.status), el('td', {}, i.owner ?? '–'))

/** The history's row of an incident decided on, read again: the search is not run again, which would lose its pages. */
async function refreshResult(id) {
  const rowOf = () => [...document.querySelectorAll('#results tr[data-id]')].find((tr) => tr.dataset.id === id)
  if (!rowOf()) return
  try {
    const { incident } = await api(`/api/v1/incidents/${id}`)
    rowOf()?.replaceWith(resultRow(incident))
  } catch { /* the row keeps what it showed; the next search reads it */ }
}

async function search(append) {
  const q = new URLSearchParams(Object.entries(state.search).filter(([, v]) => v))
  if (append && state.cursor) q.set('cursor', state.cursor)
  // A new search drops the pages of the last one still on their way, and two clicks on "More" add one page.
  const current = beginRead('search')
  try {
    const r = await api(`/api/v1/incidents?${q}`)
    if (!current()) return
    const rows = r.items.map(resultRow)
    const tbody = $('#results tbody')
    if (append) tbody.append(...rows)
    else fill(tbody, rows, 'No incident matches.', 6)
    $('#search-total').textContent = `${r.total} incident${r.total === 1 ? '' : 's'} found`
    state.cursor = r.nextCursor
    $('#more').hidden = !r.nextCursor
  } catch (err) {
    if (current()) say(`Search failed: ${err.message}`, true)
  }
}

const OUTCOME = { accepted: 'done', refused: 'refused', pending: 'outcome not known yet' }

/** One timeline line: alerts and reports as they happened; decisions with who took them and what became of them. */
function timelineItem(t) {
  const stamp = el('time', { datetime: t.at }, when(t.at))
  if (t.kind.startsWith('decision:')) {
    return el('li', { class: `decision ${t.outcome}` }, stamp, el('strong', {}, t.actor ?? 'someone'), ` · ${decisionTitle(t)} — ${OUTCOME[t.outcome] ?? t.outcome}${t.error ? `: ${t.error}` : ''}`)
  }
  if (t.kind === 'note') return el('li', { class: 'note' }, stamp, el('strong', {}, t.author), ` · note: ${t.title}`)
  return el('li', {}, stamp, `${t.kind} · ${t.title}${t.service ? ` (${t.service})` : ''}${t.reportedBy ? ` — reported by ${t.reportedBy}` : ''}`)
}

/**
 * A decision's title as the page shows it: the API names a post-mortem's time as the instant it stores
 * (`post-mortem scheduled for 2026-12-03T09:00:00.000Z`) and gives it as `scheduledFor`; the page shows it
 * as every other time, in the review's zone, and names the zone.
 */
function decisionTitle(t) {
  return t.scheduledFor ? t.title.replace(t.scheduledFor, `${when(t.scheduledFor)} ${state.zone}`) : t.title
}

/** Re-reads of a view per incident or problem id while its timeline has decisions without an outcome. */
const pendingReads = new Map()

/**
 * The review's decision log may hear the correlator's answer a moment after the page read the timeline:
 * while a decision there has no outcome yet and the same incident or problem is open, read it again, every
 * 1.5 s for up to a minute.
 */
function followPending(kind, id, timeline, show) {
  const key = `${kind}:${id}`
  if (!timeline.some((t) => t.kind.startsWith('decision:') && t.outcome === 'pending')) { pendingReads.delete(key); return }
  const reads = pendingReads.get(key) ?? 0
  if (reads >= 40) return
  pendingReads.set(key, reads + 1)
  setTimeout(() => { if (askedFor(kind) === id) void show(id, false) }, 1500)
}

/**
 * The problems the review knows, offered when the incident shown is linked to one: those of its environment
 * (the API refuses a link across environments, and a staging problem was offered for a production incident).
 */
function offerProblems() {
  const env = state.incidentEnvironment
  $('#problem-options').replaceChildren(...state.problems.filter((p) => env === null || p.environment === env).map((p) => el('option', { value: p.id }, p.title)))
}

/**
 * A view opens on another incident or problem: the last one's outcome is not this one's, and its decision
 * may still be saving (its buttons were disabled for it, not for this one).
 */
function leaveView(view) {
  $(`${view} output[data-view]`).textContent = ''
  for (const b of $(view).querySelectorAll('.decisions button')) b.disabled = false
}

/**
 * An incident's problems, each a link to its view: the cause the meeting goes on to, by its title when the
 * review lists it, and its id. Ids alone, and no way from an incident to its problem but the review's
 * list, which leaves out a resolved problem that came back into question.
 */
function problemLinks(ids) {
  if (ids.length === 0) return '–'
  return ids.flatMap((id, k) => {
    const p = state.problems.find((q) => q.id === id)
    return [k > 0 ? ', ' : '', el('button', { type: 'button', class: 'link', 'data-problem': id, onclick: () => showProblem(id) }, p ? `${p.title} (${id})` : id)]
  })
}

async function showIncident(id, scroll = true) {
  const current = beginRead('incident', id)
  try {
    const { incident: i, timeline, timelineTotal } = await api(`/api/v1/incidents/${id}`)
    if (!current()) return
    // Another incident opened: the last one's outcome is not this one's.
    if (state.incident !== id) leaveView('#detail')
    state.incident = id
    state.incidentVersion = i.version
    state.incidentEnvironment = i.environment
    offerProblems()
    $('#detail-h').textContent = i.title
    const facts = [['Id', i.id], ['Status', i.status], ['Severity', i.severity], ['Services', i.services.join(', ')], ['Environment', i.environment], ['Opened', when(i.openedAt)], ['Resolved', i.resolvedAt ? `${when(i.resolvedAt)}${i.resolvedBy ? ` (${i.resolvedBy})` : ''}` : '–'],
      ['Owner', i.owner ?? '–'], ['Acknowledged', i.acknowledgedAt ? `${when(i.acknowledgedAt)} by ${i.acknowledgedBy}` : '–'], ['Alerts', i.alertCount], ['Customers affected', i.customerImpact ? 'yes' : 'no'],
      ['Problems', problemLinks(i.problemIds)],
      ['Post-mortem', i.postmortem.required || i.postmortem.scheduledFor ? `${i.postmortem.reasons.join(', ') || 'by decision'}; ${i.postmortem.scheduledFor ? `scheduled ${when(i.postmortem.scheduledFor)}${i.postmortem.owner ? `, owner ${i.postmortem.owner}` : ''}` : i.postmortem.forgottenAt ? `can no longer be scheduled here: forgotten by the correlator ${when(i.postmortem.forgottenAt)}, pushed out by newer post-mortems awaited (OPSREVIEW_POSTMORTEM_KEEP)` : 'not scheduled'}` : 'not needed'],
      // Its last version: the correlator takes no decision on it any more (the API refuses them), so none is offered.
      ...(i.forgottenAt ? [['Decisions', `none any more: the correlator let it go ${when(i.forgottenAt)}, past its retention`]] : [])]
    $('#incident-decisions').hidden = Boolean(i.forgottenAt)
    $('#detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]))
    // The correlator refuses to acknowledge a resolved incident: not offered.
    $('#incident-ack').hidden = Boolean(i.acknowledgedAt) || i.status === 'resolved'
    $('#incident-resolve').hidden = i.status === 'resolved'
    $('#timeline').replaceChildren(...timeline.map(timelineItem))
    showCut('timeline', { items: timeline, total: timelineTotal }, 'timeline entries', 'newest')
    followPending('incident', id, timeline, showIncident)
    $('#detail').hidden = false
    // Focus, not only the view: a keyboard user was left on the link, some 950 Tab presses before it.
    if (scroll) { $('#detail').scrollIntoView({ behavior: 'smooth' }); $('#detail-h').focus({ preventScroll: true }) }
  } catch (err) {
    if (!current()) return
    // The view still shows the one before: its re-reads go on.
    latestReads.get('incident').id = state.incident
    say(`Could not open the incident: ${err.message}`, true)
  }
}

async function showProblem(id, scroll = true) {
  const current = beginRead('problem', id)
  try {
    const { problem: p, incidents, incidentsTotal, timeline } = await api(`/api/v1/problems/${id}`)
    if (!current()) return
    if (state.problem !== id) leaveView('#problem-detail')
    state.problem = id
    state.problemVersion = p.version
    $('#problem-detail-h').textContent = p.title
    const facts = [['Id', p.id], ['Kind', p.kind], ['Status', p.status], ['Services', p.services.join(', ')], ['Environment', p.environment], ['First seen', when(p.firstSeenAt)], ['Last seen', when(p.lastSeenAt)], ['Owner', p.owner ?? '–'], ['Incidents', p.incidentCount], ['Came back after resolved', `${p.reopenCount ?? 0}×`]]
    $('#problem-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', { 'data-fact': k }, v)]))
    // A resolved problem confirmed again: the fix did not hold (the correlator counts it as a come-back).
    $('#problem-confirm').hidden = p.status !== 'candidate' && p.status !== 'resolved'
    $('#problem-confirm').textContent = p.status === 'resolved' ? 'Confirm again: the fix did not hold' : 'Confirm problem'
    $('#problem-dismiss').hidden = p.status !== 'candidate'
    $('#problem-resolve').hidden = p.status !== 'confirmed'
    // A forecast has none (no customer is hurt): said, not a heading over nothing. A list cut to none says so under it.
    $('#problem-incidents').replaceChildren(...(incidents.length || incidentsTotal > 0 ? incidents.map((i) => el('li', {}, incidentLink(i), ` · ${i.status} · ${when(i.openedAt)}`)) : [el('li', { class: 'none' }, 'No incidents.')]))
    showCut('problem-incidents', { items: incidents, total: incidentsTotal }, 'incidents', 'most recent')
    $('#problem-timeline').replaceChildren(...timeline.map(timelineItem))
    followPending('problem', id, timeline, showProblem)
    $('#problem-detail').hidden = false
    if (scroll) { $('#problem-detail').scrollIntoView({ behavior: 'smooth' }); $('#problem-detail-h').focus({ preventScroll: true }) }
  } catch (err) {
    if (!current()) return
    // The view still shows the one before: its re-reads go on.
    latestReads.get('problem').id = state.problem
    say(`Could not open the problem: ${err.message}`, true)
  }
}

/** A form of the incident or problem view: its fields as a decision, cleared once recorded (taken or still waiting). */
function decisionForm(form, kind, current, body, doneText, out) {
  form.addEventListener('submit', async (e) => {
    e.preventDefault()
    const id = current()
    if (!id) return
    const fields = Object.fromEntries([...new FormData(form)].map(([k, v]) => [k, String(v).trim()]))
    await zoneOffsetsLoaded // for a typed time (a post-mortem's)
    // Not by the outcome shown: a decision not sent (no name typed) leaves the last one's there.
    // Reset only while the view still shows it: another one opened meanwhile may hold a note half typed.
    if (await decide(kind, id, body(fields), doneText(fields), out, e.submitter, viewVersion(kind)) && current() === id) form.reset()
  })
}

/** The version the incident or problem view shows, which its decisions are taken on. */
const viewVersion = (kind) => (kind === 'incidents' ? state.incidentVersion : state.problemVersion)
const incidentOut = $('#incident-outcome')
const problemOut = $('#problem-outcome')
const inc = () => state.incident
const prb = () => state.problem
decisionForm($('#incident-owner'), 'incidents', inc, (f) => ({ owner: f.owner }), (f) => `Owner is ${f.owner}`, incidentOut)
decisionForm($('#incident-note'), 'incidents', inc, (f) => ({ note: f.note }), () => 'Note added', incidentOut)
decisionForm($('#incident-link'), 'incidents', inc, (f) => ({ problemId: f.problemId }), (f) => `Linked to ${f.problemId}`, incidentOut)
// A datetime-local field (a post-mortem's time, a report's) is a wall-clock time in the review's zone (its
// label names it), as every time on the page is, not in the browser's: a meeting-room browser in UTC
// schedules the time the meeting reads. The API takes the instant.
const typedInstant = (local) => new Date(instantInZone(local, state.zone)).toISOString()
decisionForm($('#incident-postmortem'), 'incidents', inc, (f) => ({ postmortem: { scheduledFor: typedInstant(f.scheduledFor), ...(f.owner ? { owner: f.owner } : {}) } }),
  (f) => `Post-mortem scheduled for ${when(typedInstant(f.scheduledFor))} ${state.zone}${f.owner ? ` with ${f.owner}` : ''}`, incidentOut)
$('#incident-ack').addEventListener('click', (e) => void decide('incidents', state.incident, { acknowledge: true }, 'Acknowledged', incidentOut, e.currentTarget, state.incidentVersion))
$('#incident-resolve').addEventListener('click', (e) => void decide('incidents', state.incident, { resolve: true }, 'Resolved by hand', incidentOut, e.currentTarget, state.incidentVersion))
decisionForm($('#problem-owner'), 'problems', prb, (f) => ({ owner: f.owner }), (f) => `Problem owner is ${f.owner}`, problemOut)
decisionForm($('#problem-note'), 'problems', prb, (f) => ({ note: f.note }), () => 'Problem note added', problemOut)
for (const [action, done] of [['confirm', 'Problem confirmed'], ['dismiss', 'Problem dismissed'], ['resolve', 'Problem resolved']]) {
  $(`#problem-${action}`).addEventListener('click', (e) => void decide('problems', state.problem, { action }, done, problemOut, e.currentTarget, state.problemVersion))
}

const REPORT_KINDS = { 'customer-complaint': 'customer complaint', 'internal-complaint': 'internal complaint', manual: 'issue found by hand', 'capacity-forecast': 'capacity forecast' }

// A report is answered once the receiver holds it (spool or Kafka); it joins an incident when correlated, or a
// forecast the forecast problem of its service (a forecast hurts no customer: it is no incident).
$('#report').addEventListener('submit', async (e) => {
  e.preventDefault()
  const out = $('#report-outcome')
  if (dataset) { outcome(out, `Not filed: what-if dataset ${dataset} is a replay; file reports on the live review.`, 'error'); return }
  const actor = actorOrAsk()
  if (actor === null) return
  const f = Object.fromEntries([...new FormData(e.target)].map(([k, v]) => [k, String(v).trim()]).filter(([, v]) => v))
  if (f.occurredAt) {
    await zoneOffsetsLoaded
    f.occurredAt = typedInstant(f.occurredAt)
  }
  if (identity.name === null) f.reportedBy = actor
  outcome(out, 'Filing…', 'pending')
  try {
    await api('/api/v1/reports', { method: 'POST', body: JSON.stringify(f) })
    const goes = f.kind === 'capacity-forecast' ? `the forecast problem of ${f.service}` : 'an incident'
    outcome(out, `Filed: ${REPORT_KINDS[f.kind]} on ${f.service}, “${f.title}”. It joins ${goes} once correlated.`, 'accepted')
    e.target.reset()
    setTimeout(() => void loadReview(), 3000)
  } catch (err) {
    outcome(out, `Not filed: ${err.message}`, 'error')
  }
})

$('#settings').addEventListener('submit', (e) => {
  e.preventDefault()
  sessionStorage.setItem('opsreview-token', $('#token').value.trim())
  say('Loading…')
  void loadIdentity()
  void loadReview()
  void loadLookback()
})
$('#window').addEventListener('change', () => void loadReview())
$('#markdown').addEventListener('click', async (e) => {
  e.preventDefault()
  try {
    const range = shownWindow ? `from=${encodeURIComponent(shownWindow.from)}&to=${encodeURIComponent(shownWindow.to)}` : `since=${$('#window').value}`
    const md = await api(`/api/v1/review.md?${range}${scopeQuery}${tzQuery}`)
    const a = el('a', { href: URL.createObjectURL(new Blob([md], { type: 'text/markdown' })), download: 'operations-review.md' })
    a.click()
  } catch (err) { say(`Markdown failed: ${err.message}`, true) }
})
$('#search').addEventListener('submit', (e) => {
  e.preventDefault()
  state.search = Object.fromEntries(new FormData(e.target))
  state.cursor = null
  // The last search's rows and its "More" go at once: a click on More before the answer added this search's
  // first page under the last one's rows.
  $('#results tbody').replaceChildren()
  $('#search-total').textContent = ''
  $('#more').hidden = true
  void search(false)
})
$('#more').addEventListener('click', () => void search(true))
$('#lookback-settings').addEventListener('submit', (e) => { e.preventDefault(); void loadLookback() })
// Another kind of period: its own choices, from its last complete one.
$('#lookback-period').addEventListener('change', () => { $('#lookback-at').value = ''; void loadLookback() })
$('#lookback-at').addEventListener('change', () => void loadLookback())
$('#lookback-markdown').addEventListener('click', async (e) => {
  e.preventDefault()
  try {
    const query = shownPeriod ? `period=${shownPeriod.kind}&at=${encodeURIComponent(shownPeriod.label)}${scopeQuery}${tzQuery}` : lookbackQuery()
    const md = await api(`/api/v1/lookback.md?${query}`)
    const a = el('a', { href: URL.createObjectURL(new Blob([md], { type: 'text/markdown' })), download: `lookback-${shownPeriod?.label ?? 'last'}.md` })
    a.click()
  } catch (err) { say(`Look-back Markdown failed: ${err.message}`, true) }
})
if ($('#token').value) { void loadIdentity(); void loadReview(); void loadLookback() }
// The dead-letter count moves on its own; the server counts at most every few seconds however many pages ask.
setInterval(() => { if ($('#token').value && !document.hidden) void loadDeadLetters() }, 60_000)
