// The dashboard: one page the meeting puts on the screen. Plain DOM, no framework, no build.
'use strict'

const $ = (sel) => document.querySelector(sel)
const state = { cursor: null, search: {} }
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

const when = (iso) => (iso ? new Date(iso).toISOString().slice(0, 16).replace('T', ' ') : '–')
const minutes = (ms) => (ms === null || ms === undefined ? '–' : ms < 3600000 ? `${Math.round(ms / 60000)} min` : `${Math.floor(ms / 3600000)} h ${Math.round((ms % 3600000) / 60000)} min`)
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
    throw new Error(`${res.status} ${problem.title ?? res.statusText}${fields ? `: ${fields}` : ''}`)
  }
  return res.headers.get('content-type')?.includes('json') ? res.json() : res.text()
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: columns }, empty))]))
}

function incidentLink(i) {
  return el('button', { type: 'button', class: 'link', onclick: () => showIncident(i.id) }, i.title)
}

// One key per decision: a retry of the same click (a lost answer) is not recorded twice.
const newKey = () => (window.crypto?.randomUUID ? window.crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`)

async function decide(kind, id, body, doneText) {
  if (dataset) { say(`Not saved: what-if dataset ${dataset} is a replay; decide on the live review.`, true); return }
  const actor = $('#actor').value.trim()
  if (!actor) { say('Enter your name first: decisions are recorded with it.', true); $('#actor').focus(); return }
  localStorage.setItem('opsreview-actor', actor)
  say('Saving…')
  try {
    const r = await api(`/api/v1/${kind}/${id}?wait=true`, { method: 'PATCH', body: JSON.stringify({ actor, ...body }), headers: { 'idempotency-key': newKey() } })
    say(r.visible ? doneText : `${doneText} (recorded; not yet visible)`)
    await loadReview()
  } catch (err) {
    say(`Not saved: ${err.message}`, true)
  }
}

function renderReview(r) {
  $('#window-label').textContent = `${when(r.window.from)} – ${when(r.window.to)} UTC`
  const s = r.newIncidents.bySeverity
  $('#summary').replaceChildren(
    el('li', {}, el('strong', {}, r.newIncidents.total), `new incidents (${s.critical} critical)`),
    el('li', {}, el('strong', {}, r.resolvedIncidents.total), 'resolved'),
    el('li', {}, el('strong', {}, r.openIncidents.total), 'still open'),
    el('li', {}, el('strong', {}, r.problems.total), 'problems to review'),
    el('li', {}, el('strong', {}, `${r.postmortems.scheduled}/${r.postmortems.total}`), 'post-mortems scheduled'),
  )
  fill($('#open-incidents tbody'), r.openIncidents.items.map((i) => {
    const owner = el('input', { 'aria-label': `Owner of ${i.title}`, value: i.owner ?? '', placeholder: 'owner' })
    return el('tr', { 'data-id': i.id },
      el('td', {}, sev(i.severity)), el('td', {}, incidentLink(i), i.customerImpact ? ' · customers affected' : ''), el('td', {}, i.services.join(', ')),
      el('td', {}, when(i.openedAt)), el('td', { class: 'owner' }, i.owner ?? '–'),
      el('td', { class: 'decide' }, owner,
        el('button', { type: 'button', onclick: () => decide('incidents', i.id, { owner: owner.value.trim() }, `Owner of “${i.title}” is ${owner.value.trim()}`) }, 'Assign'),
        i.acknowledgedAt ? '' : el('button', { type: 'button', onclick: () => decide('incidents', i.id, { acknowledge: true }, `Acknowledged “${i.title}”`) }, 'Acknowledge')))
  }), 'No open incidents.', 6)
  fill($('#problems tbody'), r.problems.items.map((p) => el('tr', { 'data-id': p.id },
    el('td', {}, p.kind), el('td', { class: 'problem-status' }, p.status), el('td', {}, p.title), el('td', {}, p.services.join(', ')), el('td', {}, p.incidentCount),
    el('td', { class: 'decide' },
      p.status === 'candidate' ? el('button', { type: 'button', onclick: () => decide('problems', p.id, { action: 'confirm' }, `Confirmed “${p.title}”`) }, 'Confirm') : '',
      p.status === 'candidate' ? el('button', { type: 'button', onclick: () => decide('problems', p.id, { action: 'dismiss' }, `Dismissed “${p.title}”`) }, 'Dismiss') : '',
      p.status === 'confirmed' ? el('button', { type: 'button', onclick: () => decide('problems', p.id, { action: 'resolve' }, `Resolved “${p.title}”`) }, 'Resolve') : ''))),
  'No candidate or open problems.', 6)
  fill($('#postmortems tbody'), r.postmortems.items.map((i) => el('tr', {},
    el('td', {}, incidentLink(i)), el('td', {}, i.postmortem.reasons.join(', ')),
    el('td', { class: i.postmortem.scheduledFor ? '' : 'bad' }, i.postmortem.scheduledFor ? when(i.postmortem.scheduledFor) : 'not scheduled'),
    el('td', {}, i.postmortem.owner ?? '–'))), 'No post-mortem needed.', 4)
  fill($('#service-levels tbody'), r.serviceLevels.map((l) => el('tr', {},
    el('td', {}, l.service), el('td', { class: l.availabilityPct < 99.9 ? 'bad' : 'good' }, `${l.availabilityPct.toFixed(2)} %`),
    el('td', {}, minutes(l.downtimeMs)), el('td', {}, l.interruptions), el('td', {}, l.incidents), el('td', {}, minutes(l.mttaMs)), el('td', {}, minutes(l.mttrMs)))),
  'No service had alerts or incidents.', 7)
  renderTrend(r.trend)
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
      title.textContent = `${d.day}: ${d.total} incidents, ${d.critical} critical`
      rect.append(title)
      svg.append(rect)
    }
  })
  $('#trend').replaceChildren(svg)
  $('#trend-caption').textContent = `Grey: all incidents; red: critical. Peak ${max} a day.`
}

function renderDeadLetters(d) {
  const count = $('#dead-letter-count')
  count.textContent = String(d.total)
  $('#dead-letters').classList.toggle('bad', d.total > 0)
  $('#dead-letters').title = d.stale ? `Kafka did not answer; counted at ${when(d.at)} UTC` : `Counted at ${when(d.at)} UTC`
  $('#dead-letter-topics').replaceChildren(...d.topics.map((t) => el('li', {}, el('code', {}, t.topic), `: ${t.count}${t.exists ? '' : ' (no such topic yet)'}`)))
}

async function loadDeadLetters() {
  try {
    renderDeadLetters(await api('/api/v1/dead-letters/summary'))
  } catch (err) {
    $('#dead-letter-count').textContent = '?'
    $('#dead-letter-topics').replaceChildren(el('li', {}, `Could not count: ${err.message}`))
  }
}

async function loadReview() {
  const since = $('#window').value
  $('#markdown').href = '#'
  void loadDeadLetters()
  try {
    renderReview(await api(`/api/v1/review?since=${since}`))
    if (!$('#status').classList.contains('error') && $('#status').textContent === 'Loading…') say('')
  } catch (err) {
    say(`Could not load the review: ${err.message}`, true)
  }
}

async function search(append) {
  const q = new URLSearchParams(Object.entries(state.search).filter(([, v]) => v))
  if (append && state.cursor) q.set('cursor', state.cursor)
  try {
    const r = await api(`/api/v1/incidents?${q}`)
    const rows = r.items.map((i) => el('tr', { 'data-id': i.id }, el('td', {}, sev(i.severity)), el('td', {}, incidentLink(i)), el('td', {}, i.services.join(', ')), el('td', {}, when(i.openedAt)), el('td', {}, i.status), el('td', {}, i.owner ?? '–')))
    const tbody = $('#results tbody')
    if (append) tbody.append(...rows)
    else fill(tbody, rows, 'No incident matches.', 6)
    $('#search-total').textContent = `${r.total} incident${r.total === 1 ? '' : 's'} found`
    state.cursor = r.nextCursor
    $('#more').hidden = !r.nextCursor
  } catch (err) {
    say(`Search failed: ${err.message}`, true)
  }
}

async function showIncident(id) {
  try {
    const { incident: i, timeline } = await api(`/api/v1/incidents/${id}`)
    $('#detail-h').textContent = i.title
    const facts = [['Id', i.id], ['Status', i.status], ['Severity', i.severity], ['Services', i.services.join(', ')], ['Environment', i.environment], ['Opened', when(i.openedAt)], ['Resolved', when(i.resolvedAt)],
      ['Owner', i.owner ?? '–'], ['Acknowledged', i.acknowledgedAt ? `${when(i.acknowledgedAt)} by ${i.acknowledgedBy}` : '–'], ['Alerts', i.alertCount], ['Customers affected', i.customerImpact ? 'yes' : 'no'],
      ['Post-mortem', i.postmortem.required ? `${i.postmortem.reasons.join(', ')}; ${i.postmortem.scheduledFor ? `scheduled ${when(i.postmortem.scheduledFor)}` : 'not scheduled'}` : 'not needed']]
    $('#detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v)]))
    $('#timeline').replaceChildren(...timeline.map((t) => el('li', {}, el('time', { datetime: t.at }, when(t.at)), `${t.kind} · ${t.title}${t.service ? ` (${t.service})` : ''}`)))
    $('#detail').hidden = false
    $('#detail').scrollIntoView({ behavior: 'smooth' })
  } catch (err) {
    say(`Could not open the incident: ${err.message}`, true)
  }
}

$('#settings').addEventListener('submit', (e) => {
  e.preventDefault()
  sessionStorage.setItem('opsreview-token', $('#token').value.trim())
  say('Loading…')
  void loadReview()
})
$('#window').addEventListener('change', () => void loadReview())
$('#markdown').addEventListener('click', async (e) => {
  e.preventDefault()
  try {
    const md = await api(`/api/v1/review.md?since=${$('#window').value}`)
    const a = el('a', { href: URL.createObjectURL(new Blob([md], { type: 'text/markdown' })), download: 'operations-review.md' })
    a.click()
  } catch (err) { say(`Markdown failed: ${err.message}`, true) }
})
$('#search').addEventListener('submit', (e) => {
  e.preventDefault()
  state.search = Object.fromEntries(new FormData(e.target))
  state.cursor = null
  void search(false)
})
$('#more').addEventListener('click', () => void search(true))
if ($('#token').value) void loadReview()
// The dead-letter count moves on its own; the server counts at most every few seconds however many pages ask.
setInterval(() => { if ($('#token').value && !document.hidden) void loadDeadLetters() }, 60_000)
