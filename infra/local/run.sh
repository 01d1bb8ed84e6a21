#!/usr/bin/env bash
# `pnpm start` / `pnpm stop` / `pnpm status`: the whole pipeline on this machine. Starts Kafka and
# Elasticsearch (fetching them on first use), then each service in the background with its log in
# $OPSREVIEW_HOME/services, and prints where everything listens.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/system-deps.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"
mkdir -p "$SERVICES_RUN"

SERVICES="receiver correlator indexer review"

# A first run without tokens gets generated ones, kept in $SERVICES_RUN for the next runs.
token() {
  local var="$1" file="$SERVICES_RUN/$2"
  if [ -z "${!var:-}" ]; then
    [ -f "$file" ] || node -e 'console.log(require("crypto").randomBytes(24).toString("base64url"))' > "$file"
    export "$var=$(cat "$file")"
  fi
}
token OPSREVIEW_INGEST_TOKENS ingest-token
token OPSREVIEW_READ_TOKENS read-token
token OPSREVIEW_WRITE_TOKENS write-token
export OPSREVIEW_SPOOL_DIR="${OPSREVIEW_SPOOL_DIR:-$SERVICES_RUN/spool}"

start_service() {
  local name="$1" pidfile="$SERVICES_RUN/$1.pid"
  if pid_alive "$pidfile"; then log "$name already running (pid $(cat "$pidfile"))"; return; fi
  log "starting $name"
  nohup node --conditions=@opsreview/source "services/$name/src/main.ts" >> "$SERVICES_RUN/$name.log" 2>&1 < /dev/null &
  echo $! > "$pidfile"
}

wait_http() { curl -fsS -m 2 "$1" >/dev/null 2>&1; }

case "${1:-start}" in
  start)
    bash infra/local/stack.sh start
    for s in $SERVICES; do start_service "$s"; done
    wait_for "receiver" 60 wait_http "http://${OPSREVIEW_RECEIVER_HOST:-127.0.0.1}:${OPSREVIEW_RECEIVER_PORT:-8080}/readyz" \
      || { tail -20 "$SERVICES_RUN/receiver.log" >&2; exit 1; }
    wait_for "correlator" 60 wait_http "http://${OPSREVIEW_CORRELATOR_HOST:-127.0.0.1}:${OPSREVIEW_CORRELATOR_PORT:-8083}/healthz" \
      || { tail -20 "$SERVICES_RUN/correlator.log" >&2; exit 1; }
    wait_for "indexer" 60 wait_http "http://${OPSREVIEW_INDEXER_HOST:-127.0.0.1}:${OPSREVIEW_INDEXER_PORT:-8082}/healthz" \
      || { tail -20 "$SERVICES_RUN/indexer.log" >&2; exit 1; }
    wait_for "review" 60 wait_http "http://${OPSREVIEW_REVIEW_HOST:-127.0.0.1}:${OPSREVIEW_REVIEW_PORT:-8081}/healthz" \
      || { tail -20 "$SERVICES_RUN/review.log" >&2; exit 1; }
    cat <<INFO

opsreview is running.
  dashboard      http://${OPSREVIEW_REVIEW_HOST:-127.0.0.1}:${OPSREVIEW_REVIEW_PORT:-8081}/#token=$OPSREVIEW_WRITE_TOKENS
  review API     http://${OPSREVIEW_REVIEW_HOST:-127.0.0.1}:${OPSREVIEW_REVIEW_PORT:-8081}/api/v1/   (read token $OPSREVIEW_READ_TOKENS)
  receiver       http://${OPSREVIEW_RECEIVER_HOST:-127.0.0.1}:${OPSREVIEW_RECEIVER_PORT:-8080}   POST /webhooks/alertmanager, /webhooks/pingdom, /api/v1/reports
  correlator     http://${OPSREVIEW_CORRELATOR_HOST:-127.0.0.1}:${OPSREVIEW_CORRELATOR_PORT:-8083}   GET /metrics
  indexer        http://${OPSREVIEW_INDEXER_HOST:-127.0.0.1}:${OPSREVIEW_INDEXER_PORT:-8082}   GET /metrics
  kafka          127.0.0.1:$KAFKA_PORT
  elasticsearch  http://127.0.0.1:$ES_PORT   aliases opsreview-alerts, opsreview-incidents, opsreview-problems
  ingest token   $OPSREVIEW_INGEST_TOKENS
  logs           $SERVICES_RUN/*.log   (engines: pnpm stack logs kafka|elasticsearch)
  stop           pnpm stop
INFO
    ;;
  stop)
    for s in $SERVICES; do
      pidfile="$SERVICES_RUN/$s.pid"
      if pid_alive "$pidfile"; then
        pid="$(cat "$pidfile")"; log "stopping $s (pid $pid)"; kill -TERM "$pid"
        wait_for "$s to exit" 30 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid"
      fi
      rm -f "$pidfile"
    done
    bash infra/local/stack.sh stop
    ;;
  status)
    for s in $SERVICES; do
      if pid_alive "$SERVICES_RUN/$s.pid"; then echo "$(printf '%-14s' "$s") up    pid $(cat "$SERVICES_RUN/$s.pid")"; else echo "$(printf '%-14s' "$s") down"; fi
    done
    bash infra/local/stack.sh status || true
    ;;
  *) die "usage: run.sh start|stop|status" ;;
esac
