#!/usr/bin/env bash
# `pnpm start` / `pnpm stop` / `pnpm status`: the whole pipeline on this machine. Starts Kafka and
# Elasticsearch (fetching them on first use), then each service in the background with its log in
# $OPSREVIEW_HOME/services, then opsreview's own Prometheus and Alertmanager (infra/prometheus,
# infra/alertmanager), which file opsreview's failures as incidents in opsreview, and prints where
# everything listens. OPSREVIEW_KAFKA_NODES=3 OPSREVIEW_INSTANCES=2 is cluster mode (docs/cluster.md):
# three Kafka nodes and two instances of each service, instance k on its default port + 10 × (k − 1).
set -euo pipefail
# stop and status only read pid files and signal processes: they install nothing and need no Node or
# pnpm, so they work on a machine where start never ran or its installs broke. start sources
# system-deps.sh and bootstrap.sh itself.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$OPSREVIEW_REPO"

SERVICES="receiver correlator indexer review"

# Each service's host and first port; instance k of INSTANCES listens on the port + 10 × (k − 1).
host_of() { case "$1" in receiver) echo "${OPSREVIEW_RECEIVER_HOST:-127.0.0.1}" ;; review) echo "${OPSREVIEW_REVIEW_HOST:-127.0.0.1}" ;; indexer) echo "${OPSREVIEW_INDEXER_HOST:-127.0.0.1}" ;; correlator) echo "${OPSREVIEW_CORRELATOR_HOST:-127.0.0.1}" ;; esac; }
port_of() {
  local base
  case "$1" in receiver) base="${OPSREVIEW_RECEIVER_PORT:-8080}" ;; review) base="${OPSREVIEW_REVIEW_PORT:-8081}" ;; indexer) base="${OPSREVIEW_INDEXER_PORT:-8082}" ;; correlator) base="${OPSREVIEW_CORRELATOR_PORT:-8083}" ;; esac
  echo $((base + 10 * (${2:-1} - 1)))
}
addr_of() { echo "$(host_of "$1"):$(port_of "$1" "${2:-1}")"; }
port_env_of() { case "$1" in receiver) echo OPSREVIEW_RECEIVER_PORT ;; review) echo OPSREVIEW_REVIEW_PORT ;; indexer) echo OPSREVIEW_INDEXER_PORT ;; correlator) echo OPSREVIEW_CORRELATOR_PORT ;; esac; }
# One instance keeps the names of old (receiver, receiver.pid, receiver.log); several are receiver-1 ….
instance_name() { if [ "$INSTANCES" = 1 ]; then echo "$1"; else echo "$1-$2"; fi; }
# "1 2 …" of the instances.
instances() { seq 1 "$INSTANCES" | tr '\n' ' '; }
RECEIVER_ADDR="$(addr_of receiver)"
REVIEW_ADDR="$(addr_of review)"
INDEXER_ADDR="$(addr_of indexer)"
CORRELATOR_ADDR="$(addr_of correlator)"

# opsreview watching itself; OPSREVIEW_SELF_MONITORING=0 leaves both out.
SELF_MONITORING="${OPSREVIEW_SELF_MONITORING:-1}"
PROMETHEUS_BIN="${OPSREVIEW_PROMETHEUS_BIN:-/usr/bin/prometheus}"
ALERTMANAGER_BIN="${OPSREVIEW_ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}"
PROMETHEUS_PORT="${OPSREVIEW_PROMETHEUS_PORT:-9090}"
ALERTMANAGER_PORT="${OPSREVIEW_ALERTMANAGER_PORT:-9094}"
PROMETHEUS_RETENTION="${OPSREVIEW_PROMETHEUS_RETENTION:-2d}"
PROMETHEUS_RUN="$OPSREVIEW_HOME/prometheus"
ALERTMANAGER_RUN="$OPSREVIEW_HOME/alertmanager"
# What our Prometheus' and Alertmanager's command lines contain (pid_ours): our config file (not the binary,
# which OPSREVIEW_PROMETHEUS_BIN / OPSREVIEW_ALERTMANAGER_BIN may have changed between start and stop).
PROMETHEUS_CMDLINE=("--config.file=$PROMETHEUS_RUN/prometheus.yml")
ALERTMANAGER_CMDLINE=("--config.file=$ALERTMANAGER_RUN/alertmanager.yml")

# A first run without tokens gets generated ones, kept in $SERVICES_RUN for the next runs, readable by
# their owner only (files from older runs are tightened too). Tokens given in the environment are kept
# there as well: a later start in a shell without them (bringing back a part that crashed) took the
# generated ones instead, and pointed Alertmanager at the receiver with a token it refused (401).
token() {
  local var="$1" file="$SERVICES_RUN/$2"
  if [ -n "${!var:-}" ]; then
    if [ -f "$file" ] && [ "$(cat "$file")" != "${!var}" ] && any_service_running; then
      die "$var differs from the tokens the running services were started with: stop them first ($(stop_command))"
    fi
    (umask 077 && printf '%s\n' "${!var}" > "$file")
  else
    # Not empty, and written whole: a start cut short while node ran left an empty file, an empty token
    # list the receiver refuses, and every later start failed on it.
    [ -s "$file" ] || (umask 077 && node -e 'console.log(require("crypto").randomBytes(24).toString("base64url"))' > "$file.new" && mv "$file.new" "$file")
    export "$var=$(cat "$file")"
  fi
  chmod 600 "$file"
}

# Whether an instance of any service of this home runs.
any_service_running() {
  local s pidfile
  for s in $SERVICES; do
    for pidfile in "$SERVICES_RUN/$s.pid" "$SERVICES_RUN/$s"-[1-9].pid; do
      [ -f "$pidfile" ] && pid_ours "$pidfile" "$(service_cmdline_of "$s")" "$SERVICE_HOME_ENV" && return 0
    done
  done
  return 1
}
# Each receiver instance has a spool of its own: a spool is one process's durable queue.
SPOOL_BASE="${OPSREVIEW_SPOOL_DIR:-$SERVICES_RUN/spool}"
# The secret of a token list's first entry: entries may be named (`dana:secret`), and only the secret goes
# into a link, a file or another service's config.
first_secret() { local e="${1%%,*}"; e="${e//[[:space:]]/}"; printf '%s' "${e#*:}"; }

# Before start: what is missing is installed (Debian packages, Node, pnpm, the workspace), the tokens exist
# and the services' environment is set.
prepare_start() {
  local path_before="$PATH"
  source "$OPSREVIEW_REPO/infra/local/system-deps.sh"
  source "$OPSREVIEW_REPO/infra/local/bootstrap.sh"
  # Tokens, the spool and the logs are the services' own: nobody else on the machine reads them.
  mkdir -p "$SERVICES_RUN"
  chmod 700 "$SERVICES_RUN"
  token OPSREVIEW_INGEST_TOKENS ingest-token
  token OPSREVIEW_READ_TOKENS read-token
  token OPSREVIEW_WRITE_TOKENS write-token
  # The dashboard's report form files through the receiver, with an ingest token.
  export OPSREVIEW_RECEIVER_URL="${OPSREVIEW_RECEIVER_URL:-http://$RECEIVER_ADDR}"
  export OPSREVIEW_RECEIVER_TOKEN="${OPSREVIEW_RECEIVER_TOKEN:-$(first_secret "$OPSREVIEW_INGEST_TOKENS")}"
  # The services talk to the engines this script started, on whatever ports they were given.
  export OPSREVIEW_KAFKA_BROKERS="${OPSREVIEW_KAFKA_BROKERS:-$(kafka_brokers)}"
  export OPSREVIEW_ES_URL="${OPSREVIEW_ES_URL:-http://127.0.0.1:$ES_PORT}"
  # What bootstrap.sh put before PATH (Node 24 and pnpm under $OPSREVIEW_HOME): the banner's `pnpm …`
  # commands need it in the user's shell too.
  PATH_ADDED="${PATH%"$path_before"}"
}

# One start or stop of a home at a time, held for the whole run (flock on $OPSREVIEW_HOME/.run.lock; stack.sh's
# lock covers only the engines, and a start holds it only while it starts them): a stop during a start
# returned while that start went on to launch the services, which then ran after the stop had succeeded, and
# two starts at once each wrote tokens of their own. The second waits for the first, then acts on what the
# first left. What a start launches (engines, services, self-monitoring) goes without the lock's descriptor
# (9>&-): inherited, it held the lock while it ran, and the next stop waited for it in vain.
RUN_LOCK_SECS=900
lock_run() {
  local lock="$OPSREVIEW_HOME/.run.lock" holder=""
  mkdir -p "$OPSREVIEW_HOME"
  exec 9>> "$lock"
  if ! flock -n 9; then
    holder="$(cat "$lock" 2>/dev/null)" || true
    log "waiting for the run.sh ${holder:-start or stop} in progress in $OPSREVIEW_HOME to finish"
    flock -w "$RUN_LOCK_SECS" 9 || die "the run.sh ${holder:-start or stop} in $OPSREVIEW_HOME has held $lock for $((RUN_LOCK_SECS / 60)) minutes: let it finish or end it, then try again"
  fi
  printf '%s (pid %s)\n' "$1" "$$" > "$lock"
}

# start_service SERVICE K: instance K, with its own port, pid file, log and (receiver) spool; the
# instances of a service share its consumer group, so they share the partitions.
start_service() {
  local service="$1" k="$2" name; name="$(instance_name "$1" "$2")"
  local pidfile="$SERVICES_RUN/$name.pid" spool="$SPOOL_BASE"
  [ "$INSTANCES" = 1 ] || spool="$SPOOL_BASE-$k"
  if pid_ours "$pidfile" "$(service_cmdline_of "$service")" "$SERVICE_HOME_ENV"; then log "$name already running (pid $(cat "$pidfile"))"; return; fi
  port_open "$(port_of "$service" "$k")" && port_taken "$(port_of "$service" "$k")" "$name" "$(port_env_of "$service")"
  log "starting $name on $(addr_of "$service" "$k")"
  # setsid, as the engines: Node resets the SIGHUP that nohup ignores, so a start run as a terminal's
  # command (ssh -t host pnpm start, a tmux window) took the services along when that terminal closed.
  setsid env "$(port_env_of "$service")=$(port_of "$service" "$k")" OPSREVIEW_SPOOL_DIR="$spool" \
    nohup node --conditions=@opsreview/source "$(service_cmdline_of "$service")" >> "$SERVICES_RUN/$name.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$pidfile"
}

# wait_service SERVICE K PATH: until instance K answers PATH, else its log's tail and exit.
wait_service() {
  local name; name="$(instance_name "$1" "$2")"
  wait_for "$name" 90 up_or_gone "$SERVICES_RUN/$name.pid" "$SERVICES_RUN/$name.log" "http://$(addr_of "$1" "$2")$3" "$(service_cmdline_of "$1")" "$SERVICE_HOME_ENV" \
    || { tail -20 "$SERVICES_RUN/$name.log" >&2; exit 1; }
}

# up_or_gone PIDFILE LOG URL PATTERN...: URL answers; or the process is gone, and waiting on is no use (a
# service refusing its configuration exits at once with code 78): its log's tail, and exit.
up_or_gone() {
  local pidfile="$1" logfile="$2" url="$3"; shift 3
  wait_http "$url" && return 0
  pid_ours "$pidfile" "$@" && return 1
  log "$(basename "$pidfile" .pid) exited while starting"
  tail -20 "$logfile" >&2
  exit 1
}

# Every address of a service's instances, for Prometheus' targets: 127.0.0.1:8080', '127.0.0.1:8090
targets_of() { local k sep="', '" out=""; for k in $(instances); do out="$out${out:+$sep}$(addr_of "$1" "$k")"; done; echo "$out"; }

wait_http() { curl -fsS -m 2 "$1" >/dev/null 2>&1; }

# Renders the checked-in configs with the addresses, ports and paths in force, into the run directories.
render_self_monitoring() {
  mkdir -p "$PROMETHEUS_RUN/data" "$ALERTMANAGER_RUN/data"
  sed -e "s|127.0.0.1:8080|$(targets_of receiver)|; s|127.0.0.1:8081|$(targets_of review)|; s|127.0.0.1:8082|$(targets_of indexer)|; s|127.0.0.1:8083|$(targets_of correlator)|" \
      -e "s|127.0.0.1:9094|127.0.0.1:$ALERTMANAGER_PORT|" \
      -e "s|^  - opsreview-rules.yml|  - $OPSREVIEW_REPO/infra/prometheus/opsreview-rules.yml|" \
      infra/prometheus/prometheus.yml > "$PROMETHEUS_RUN/prometheus.yml"
  # Alertmanager reads the token from a file of its own, so the token is in no config and no process list.
  (umask 077 && first_secret "$OPSREVIEW_INGEST_TOKENS" > "$ALERTMANAGER_RUN/ingest-token")
  chmod 600 "$ALERTMANAGER_RUN/ingest-token"
  sed -e "s|http://127.0.0.1:8080/webhooks/alertmanager|http://$RECEIVER_ADDR/webhooks/alertmanager|" \
      -e "s|credentials_file: ingest-token|credentials_file: $ALERTMANAGER_RUN/ingest-token|" \
      infra/alertmanager/alertmanager.yml > "$ALERTMANAGER_RUN/alertmanager.yml"
  # Several receivers: the webhook (the file's last block) once per instance, so a notification still
  # arrives while one is down; the pipeline files a state that arrives twice once.
  local k
  for k in $(instances); do
    [ "$k" = 1 ] && continue
    awk -v from="http://$RECEIVER_ADDR/" -v to="http://$(addr_of receiver "$k")/" '
      /^      - url: / { copy = 1 }
      copy { block = block (block == "" ? "" : "\n") $0 }
      END { gsub(from, to, block); print block }' "$ALERTMANAGER_RUN/alertmanager.yml" > "$ALERTMANAGER_RUN/webhook-$k.yml"
    cat "$ALERTMANAGER_RUN/webhook-$k.yml" >> "$ALERTMANAGER_RUN/alertmanager.yml"
    rm -f "$ALERTMANAGER_RUN/webhook-$k.yml"
  done
}

start_alertmanager() {
  local pidfile="$ALERTMANAGER_RUN/alertmanager.pid"
  if pid_ours "$pidfile" "${ALERTMANAGER_CMDLINE[@]}"; then log "alertmanager already running (pid $(cat "$pidfile"))"; return; fi
  port_open "$ALERTMANAGER_PORT" && port_taken "$ALERTMANAGER_PORT" alertmanager OPSREVIEW_ALERTMANAGER_PORT
  [ -x "$ALERTMANAGER_BIN" ] || die "Alertmanager not found at $ALERTMANAGER_BIN (apt-get install prometheus-alertmanager)"
  log "starting alertmanager on 127.0.0.1:$ALERTMANAGER_PORT"
  # No cluster: one local instance, and its gossip port would clash with other Alertmanagers here.
  nohup "$ALERTMANAGER_BIN" --config.file="$ALERTMANAGER_RUN/alertmanager.yml" --storage.path="$ALERTMANAGER_RUN/data" \
    --web.listen-address="127.0.0.1:$ALERTMANAGER_PORT" --cluster.listen-address= \
    >> "$ALERTMANAGER_RUN/alertmanager.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$pidfile"
}

start_prometheus() {
  local pidfile="$PROMETHEUS_RUN/prometheus.pid"
  if pid_ours "$pidfile" "${PROMETHEUS_CMDLINE[@]}"; then log "prometheus already running (pid $(cat "$pidfile"))"; return; fi
  port_open "$PROMETHEUS_PORT" && port_taken "$PROMETHEUS_PORT" prometheus OPSREVIEW_PROMETHEUS_PORT
  [ -x "$PROMETHEUS_BIN" ] || die "Prometheus not found at $PROMETHEUS_BIN (apt-get install prometheus)"
  log "starting prometheus on 127.0.0.1:$PROMETHEUS_PORT"
  nohup "$PROMETHEUS_BIN" --config.file="$PROMETHEUS_RUN/prometheus.yml" --storage.tsdb.path="$PROMETHEUS_RUN/data" \
    --storage.tsdb.retention.time="$PROMETHEUS_RETENTION" --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
    >> "$PROMETHEUS_RUN/prometheus.log" 2>&1 < /dev/null 9>&- &
  echo $! > "$pidfile"
}

# status_line NAME PIDFILE PATTERN...: `NAME up pid N` or `NAME down`, the same form as `stack.sh pids`.
status_line() { local name="$1" pidfile="$2"; shift 2; if pid_ours "$pidfile" "$@"; then echo "$name up pid $(cat "$pidfile")"; else echo "$name down"; fi; }

# Engines, then each service's instances, then self-monitoring: `NAME up pid N` or `NAME down` lines.
print_status() {
  bash infra/local/stack.sh pids || true
  for s in $SERVICES; do for k in $(instances); do status_line "$(instance_name "$s" "$k")" "$SERVICES_RUN/$(instance_name "$s" "$k").pid" "$(service_cmdline_of "$s")" "$SERVICE_HOME_ENV"; done; done
  if [ "$SELF_MONITORING" != 0 ]; then
    status_line prometheus "$PROMETHEUS_RUN/prometheus.pid" "${PROMETHEUS_CMDLINE[@]}"
    status_line alertmanager "$ALERTMANAGER_RUN/alertmanager.pid" "${ALERTMANAGER_CMDLINE[@]}"
  fi
}

# The command that stops this stack, with the variables that choose its pid files and processes when set.
stop_command() {
  local v out=""
  [ "$OPSREVIEW_HOME" = "$(realpath -ms "$OPSREVIEW_DEFAULT_HOME")" ] || out="OPSREVIEW_HOME=$OPSREVIEW_HOME "
  for v in OPSREVIEW_KAFKA_NODES OPSREVIEW_INSTANCES OPSREVIEW_SELF_MONITORING OPSREVIEW_PROMETHEUS_BIN OPSREVIEW_ALERTMANAGER_BIN; do
    [ -z "${!v:-}" ] || out="$out$v=${!v} "
  done
  echo "${out}bash $OPSREVIEW_REPO/infra/local/run.sh stop"
}

# A start that fails half-way leaves what it got running, and says so: what runs and the command that
# stops it all. It does not stop things itself: the engines (and services) may have been running before
# this start and serve others here (a test run, a benchmark), which a failed start must not take down, and
# what still runs beside the failed part's log is what one needs to find the cause.
start_failed() {
  local rc=$?
  [ "$rc" = 0 ] && return
  trap - EXIT
  log "start failed (exit $rc); still running from $OPSREVIEW_HOME:"
  print_status | grep ' up ' | sed 's/^/  /' >&2 || log "  nothing"
  log "to stop it all: $(stop_command)"
  exit "$rc"
}

case "${1:-start}" in
  start)
    lock_run start
    prepare_start
    trap start_failed EXIT
    # The engines run on after this start: without the run lock (9>&-).
    bash infra/local/stack.sh start 9>&-
    for s in $SERVICES; do for k in $(instances); do start_service "$s" "$k"; done; done
    for k in $(instances); do
      wait_service receiver "$k" /readyz
      wait_service correlator "$k" /healthz
      wait_service indexer "$k" /healthz
      wait_service review "$k" /healthz
    done
    self_monitoring="  self-monitoring off (OPSREVIEW_SELF_MONITORING=0)"
    if [ "$SELF_MONITORING" != 0 ]; then
      render_self_monitoring
      start_alertmanager
      wait_for "alertmanager" 30 up_or_gone "$ALERTMANAGER_RUN/alertmanager.pid" "$ALERTMANAGER_RUN/alertmanager.log" "http://127.0.0.1:$ALERTMANAGER_PORT/-/ready" "${ALERTMANAGER_CMDLINE[@]}" \
        || { tail -20 "$ALERTMANAGER_RUN/alertmanager.log" >&2; exit 1; }
      start_prometheus
      wait_for "prometheus" 60 up_or_gone "$PROMETHEUS_RUN/prometheus.pid" "$PROMETHEUS_RUN/prometheus.log" "http://127.0.0.1:$PROMETHEUS_PORT/-/ready" "${PROMETHEUS_CMDLINE[@]}" \
        || { tail -20 "$PROMETHEUS_RUN/prometheus.log" >&2; exit 1; }
      self_monitoring="  prometheus     http://127.0.0.1:$PROMETHEUS_PORT   scrapes the four services, rules infra/prometheus/opsreview-rules.yml
  alertmanager   http://127.0.0.1:$ALERTMANAGER_PORT   sends opsreview's own alerts to POST /webhooks/alertmanager"
    fi
    # pnpm stop acts on the default home and layout: a start with others says the command that stops it.
    banner_stop="$(stop_command)"
    [[ "$banner_stop" == "bash $OPSREVIEW_REPO/infra/local/run.sh stop" ]] && banner_stop="pnpm stop"
    path_info=""
    [ -z "$PATH_ADDED" ] || path_info="
  pnpm on PATH   export PATH=\"$PATH_ADDED\$PATH\"   (or: source infra/local/bootstrap.sh) before the pnpm commands below"
    instances_info=""
    [ "$INSTANCES" = 1 ] || instances_info="
  instances      $INSTANCES of each service, instance k on the port above + 10 × (k − 1); pnpm status lists them"
    cat <<INFO

opsreview is running.$path_info
  dashboard      http://${OPSREVIEW_REVIEW_HOST:-127.0.0.1}:${OPSREVIEW_REVIEW_PORT:-8081}/#token=$(first_secret "$OPSREVIEW_WRITE_TOKENS")
  review API     http://${OPSREVIEW_REVIEW_HOST:-127.0.0.1}:${OPSREVIEW_REVIEW_PORT:-8081}/api/v1/   (read token $(first_secret "$OPSREVIEW_READ_TOKENS"))
  receiver       http://${OPSREVIEW_RECEIVER_HOST:-127.0.0.1}:${OPSREVIEW_RECEIVER_PORT:-8080}   POST /webhooks/alertmanager, /webhooks/pingdom, /api/v1/reports
  correlator     http://${OPSREVIEW_CORRELATOR_HOST:-127.0.0.1}:${OPSREVIEW_CORRELATOR_PORT:-8083}   GET /metrics
  indexer        http://${OPSREVIEW_INDEXER_HOST:-127.0.0.1}:${OPSREVIEW_INDEXER_PORT:-8082}   GET /metrics$instances_info
  kafka          $OPSREVIEW_KAFKA_BROKERS
  elasticsearch  http://127.0.0.1:$ES_PORT   aliases opsreview-alerts, opsreview-incidents, opsreview-problems
$self_monitoring
  ingest token   $OPSREVIEW_INGEST_TOKENS
  logs           $SERVICES_RUN/*.log   (engines: pnpm stack logs kafka|elasticsearch; $PROMETHEUS_RUN, $ALERTMANAGER_RUN)
  dead letters   pnpm opsreview dead-letters
  stop           $banner_stop
INFO
    trap - EXIT
    ;;
  stop)
    lock_run stop
    # Prometheus first: services going away on purpose are not incidents.
    stop_pidfile prometheus "$PROMETHEUS_RUN/prometheus.pid" TERM 30 "${PROMETHEUS_CMDLINE[@]}"
    stop_pidfile alertmanager "$ALERTMANAGER_RUN/alertmanager.pid" TERM 30 "${ALERTMANAGER_CMDLINE[@]}"
    # Every instance this home runs, whatever OPSREVIEW_INSTANCES says now: started with 2 and stopped
    # without it, the second instances ran on.
    for s in $SERVICES; do
      for pidfile in "$SERVICES_RUN/$s.pid" "$SERVICES_RUN/$s"-[1-9].pid; do
        [ -f "$pidfile" ] || continue
        stop_pidfile "$(basename "$pidfile" .pid)" "$pidfile" TERM 30 "$(service_cmdline_of "$s")" "$SERVICE_HOME_ENV"
      done
    done
    bash infra/local/stack.sh stop
    ;;
  status)
    status="$(print_status)"
    echo "$status"
    # Exit 1 when any part is down, as stack.sh status.
    ! grep -q ' down$' <<< "$status" ;;
  *) die "usage: run.sh start|stop|status" ;;
esac
