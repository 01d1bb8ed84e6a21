#!/usr/bin/env bash
# `pnpm test`: typecheck, lint, then every test (unit, integration on the real Kafka and Elasticsearch,
# end-to-end through a real Alertmanager and Chromium). Starts the local engines when they are not
# running, and stops again what it started (OPSREVIEW_KEEP_STACK=1 keeps them).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/system-deps.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"

[ -x "${OPSREVIEW_ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}" ] || die "the end-to-end tests need Alertmanager: apt-get install prometheus-alertmanager"

started=""
bash infra/local/stack.sh status >/dev/null 2>&1 || started=yes
bash infra/local/stack.sh start
cleanup() {
  if [ -n "$started" ] && [ -z "${OPSREVIEW_KEEP_STACK:-}" ]; then bash infra/local/stack.sh stop; fi
}
trap cleanup EXIT

log "typecheck"; pnpm -s typecheck
log "lint"; pnpm -s lint
log "tests"
report="$(mktemp)"
status=0
pnpm -s exec vitest run --config .config/vitest.config.ts --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain summary line, for whoever reads only the last lines.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  console.log(`vitest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests + r.numTodoTests} skipped`);
  if (r.numTotalTests === 0) { console.error("no test ran"); process.exit(1) }
' "$report" || status=1
rm -f "$report"
exit $status
