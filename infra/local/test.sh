#!/usr/bin/env bash
# `pnpm test`: typecheck, lint, opsreview's own alert rules (promtool), then every test (unit,
# integration on the real Kafka and Elasticsearch, end-to-end through a real Alertmanager and Chromium). Starts the local engines when they are not
# running, and stops again what it started (OPSREVIEW_KEEP_STACK=1 keeps them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/system-deps.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"

[ -x "${OPSREVIEW_ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}" ] || die "the end-to-end tests need Alertmanager: apt-get install prometheus-alertmanager"
command -v promtool >/dev/null || die "the alert rule tests need promtool: apt-get install prometheus"

# The tests find the engines this script starts, so a second stack (other OPSREVIEW_HOME and ports) can run
# the suite beside a first one.
export OPSREVIEW_KAFKA_BROKERS="${OPSREVIEW_KAFKA_BROKERS:-127.0.0.1:$KAFKA_PORT}"
export OPSREVIEW_ES_URL="${OPSREVIEW_ES_URL:-http://127.0.0.1:$ES_PORT}"

# The parts that were down before the start (`kafka` or `kafka-K`, `elasticsearch`): only those are stopped
# again, so an engine someone already had running stays up. Running is what its pid file names, answering
# or not: `stack.sh pids` also wants an answer within 2 s, and a busy Elasticsearch someone had running
# (or one still starting) counted as down and was stopped at the end.
was_down="$(
  for k in $(seq 1 "$KAFKA_NODES"); do kafka_pid_ok "$k" 2>/dev/null || kafka_part_of "$k"; done
  es_pid_ok 2>/dev/null || echo elasticsearch
)"
# The files of the run, for an interrupted run to remove.
temp_files=()
# Where the tests record the homes they start engines in, for cleanup to stop what an interrupted run left there.
record_test_homes
# Set before the start, so a stack that failed half-way up is stopped too. Only OPSREVIEW_KEEP_STACK=1 keeps it.
cleanup() {
  # The test runs (`in_group`), which an interrupted run (Ctrl-C, SIGTERM) leaves going otherwise.
  end_groups
  stop_test_homes
  rm -f "${temp_files[@]}"
  [ -n "$was_down" ] && [ "${OPSREVIEW_KEEP_STACK:-}" != 1 ] || return 0
  local kafka_nodes kafka_down part
  kafka_nodes="$(bash infra/local/stack.sh pids 2>/dev/null | grep -c '^kafka' || true)"
  kafka_down="$(grep -c '^kafka' <<<"$was_down" || true)"
  # A cluster's nodes stop together, so none waits for a quorum the others already left; when only some
  # were down, the others keep the quorum while those stop one by one.
  if [ "$kafka_down" -gt 0 ] && [ "$kafka_down" = "$kafka_nodes" ]; then bash infra/local/stack.sh stop kafka
  else for part in $(grep '^kafka' <<<"$was_down" || true); do bash infra/local/stack.sh stop "$part"; done; fi
  if grep -qx elasticsearch <<<"$was_down"; then bash infra/local/stack.sh stop elasticsearch; fi
}
trap cleanup EXIT
exit_on_signals
bash infra/local/stack.sh start

# The record types are generated from schemas/ (git-ignored); a schema edit since install must show here.
log "generate"; pnpm -s generate
log "typecheck"; pnpm -s typecheck
log "lint"; pnpm -s lint
# The self-monitoring rules and the configs `pnpm start` runs them with: each rule must fire on its
# failure (infra/prometheus/opsreview-rules.test.yml). Any failure fails the run.
log "alert rules"
promtool check rules infra/prometheus/opsreview-rules.yml
promtool test rules infra/prometheus/opsreview-rules.test.yml
untested="$(comm -23 <(grep -oP '^\s*- alert: \K\S+' infra/prometheus/opsreview-rules.yml | sort -u) \
  <(grep -oP '^\s*alertname: \K\S+' infra/prometheus/opsreview-rules.test.yml | sort -u))"
[ -z "$untested" ] || die "alert rules without a test in infra/prometheus/opsreview-rules.test.yml: $untested"
promtool check config infra/prometheus/prometheus.yml >/dev/null
if command -v amtool >/dev/null; then amtool check-config infra/alertmanager/alertmanager.yml >/dev/null; fi
log "tests"
reports=()
status=0
# A filter (`pnpm test receiver`) goes to every run, and usually matches files of one only: the others find
# none, which is not a failure. A filter that matches nothing at all still fails below ("no test ran").
no_files_ok=()
[ $# -eq 0 ] || no_files_ok=(--passWithNoTests)
filter=("$@")
# vitest_run REPORT ARGS…: the report's path is made by the caller, since a run in the background cannot add
# to `reports`.
vitest_run() {
  local report="$1"
  shift
  pnpm -s exec vitest run --config .config/vitest.config.ts "$@" --reporter=default --reporter=json --outputFile.json="$report" "${no_files_ok[@]}" "${filter[@]}"
}
new_report() { reports+=("$(mktemp)"); temp_files+=("${reports[-1]}"); }
# Three runs. The end-to-end files run one at a time (fileParallelism), each with its pipeline of processes.
# The tests share no topic, group, index or port (each makes its own) and spend most of their time waiting on
# the engines and the services, so the end-to-end run goes beside the other, and in the other the unit and int
# files (the dashboard's in Chromium among them) run two at a time. The end-to-end output follows the other's.
# One file at a time, with the dashboard's int files beside the end-to-end ones, the two took 661 s and 605 s
# of a CI run of 857 s; with the unit and int files two at a time, 434 s and 590 s (2026-12-07).
e2e_log="$(mktemp)"
temp_files+=("$e2e_log")
new_report
in_group vitest_run "${reports[-1]}" --project e2e >"$e2e_log" 2>&1
e2e_pid="${GROUPS_STARTED[-1]}"
new_report
in_group vitest_run "${reports[-1]}" --project unit --project int --maxWorkers=2
wait_group || status=$?
wait "$e2e_pid" || status=$?
log "e2e (ran beside unit and int)"
cat "$e2e_log"
# The outage tests kill and restart the shared engines, so they run alone, after all others.
new_report
in_group vitest_run "${reports[-1]}" --project outage
wait_group || status=$?
# One plain summary line, for whoever reads only the last lines.
node -e '
  const rs = process.argv.slice(1).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  const sum = (k) => rs.reduce((s, r) => s + r[k], 0);
  console.log(`vitest: ${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed, ${sum("numPendingTests") + sum("numTodoTests")} skipped`);
  // The failures again, named, with the first line of each message: a CI log is often read only at its tail,
  // and the run that failed may have printed them many screens above.
  for (const file of rs.flatMap((r) => r.testResults)) {
    const where = require("path").relative(process.cwd(), file.name);
    // A file whose hook or import failed has no failed test of its own to name.
    if (file.status === "failed" && !file.assertionResults.some((a) => a.status === "failed")) {
      console.log(`failed: ${where}: ${(file.message ?? "").split("\n")[0].slice(0, 300)}`);
    }
    for (const t of file.assertionResults.filter((a) => a.status === "failed")) {
      const why = (t.failureMessages[0] ?? "").split("\n")[0].slice(0, 300);
      console.log(`failed: ${where} > ${t.fullName}: ${why}`);
    }
  }
  if (sum("numTotalTests") === 0) { console.error("no test ran"); process.exit(1) }
' "${reports[@]}" || status=1
exit $status
