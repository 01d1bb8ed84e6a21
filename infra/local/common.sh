# Sourced by the other infra/local scripts: where the local stack lives and what it runs.
# Everything here is outside git: artifacts, engine data, logs and the Node 24 binary.

OPSREVIEW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "$(id -u)" = 0 ]; then
  # Elasticsearch will not run as root, and /root is private, so root keeps the stack where the
  # unprivileged engine user can read it.
  OPSREVIEW_DEFAULT_HOME=/var/lib/opsreview
else
  OPSREVIEW_DEFAULT_HOME="${XDG_DATA_HOME:-$HOME/.local/share}/opsreview"
fi
OPSREVIEW_HOME="${OPSREVIEW_HOME:-$OPSREVIEW_DEFAULT_HOME}"
# One spelling of the path (no // nor trailing /): Elasticsearch normalises the paths it is given, and
# pid_ours matches them in its command line.
OPSREVIEW_HOME="$(realpath -ms "$OPSREVIEW_HOME")"
export OPSREVIEW_HOME

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$OPSREVIEW_REPO/infra/local/pom.xml")"
ES_VERSION="$(sed -n 's:.*<es.version>\(.*\)</es.version>.*:\1:p' "$OPSREVIEW_REPO/infra/local/pom.xml")"
KAFKA_HOME="$OPSREVIEW_HOME/engines/kafka-$KAFKA_VERSION"
ES_HOME="$OPSREVIEW_HOME/engines/elasticsearch-$ES_VERSION"
KAFKA_RUN="$OPSREVIEW_HOME/kafka"
ES_RUN="$OPSREVIEW_HOME/elasticsearch"
SERVICES_RUN="$OPSREVIEW_HOME/services"

KAFKA_PORT="${OPSREVIEW_KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${OPSREVIEW_KAFKA_CONTROLLER_PORT:-9093}"
ES_PORT="${OPSREVIEW_ES_PORT:-9200}"
ES_TRANSPORT_PORT="${OPSREVIEW_ES_TRANSPORT_PORT:-9300}"
# Cluster mode (docs/cluster.md): OPSREVIEW_KAFKA_NODES=3 runs three combined broker/controller nodes,
# OPSREVIEW_INSTANCES=2 two instances of each service. The default is one of each.
KAFKA_NODES="${OPSREVIEW_KAFKA_NODES:-1}"
INSTANCES="${OPSREVIEW_INSTANCES:-1}"
[[ "$KAFKA_NODES" =~ ^[1-9]$ ]] || { printf '[opsreview] error: OPSREVIEW_KAFKA_NODES must be 1 to 9, got %s\n' "$KAFKA_NODES" >&2; exit 1; }
[[ "$INSTANCES" =~ ^[1-9]$ ]] || { printf '[opsreview] error: OPSREVIEW_INSTANCES must be 1 to 9, got %s\n' "$INSTANCES" >&2; exit 1; }
# Node k listens for clients on the Kafka port + 100 × (k − 1) and for its controller quorum on the
# controller port + 100 × (k − 1): 9092/9093, 9192/9193, 9292/9293 by default. Steps of 100 keep clear
# of the controller port beside each client port, and of Prometheus (9090) and Alertmanager (9094).
kafka_port_of() { echo $((KAFKA_PORT + 100 * ($1 - 1))); }
kafka_controller_port_of() { echo $((KAFKA_CONTROLLER_PORT + 100 * ($1 - 1))); }
# One node keeps the single-broker layout ($OPSREVIEW_HOME/kafka, part "kafka"); a cluster's nodes are
# kafka-1 … kafka-N, each with its own directory.
kafka_part_of() { if [ "$KAFKA_NODES" = 1 ]; then echo kafka; else echo "kafka-$1"; fi; }
kafka_run_of() { echo "$OPSREVIEW_HOME/$(kafka_part_of "$1")"; }
kafka_brokers() {
  local k out=""
  for k in $(seq 1 "$KAFKA_NODES"); do out="$out${out:+,}127.0.0.1:$(kafka_port_of "$k")"; done
  echo "$out"
}
# Three copies of every partition, two of which must have a write (acks=all) before it is acknowledged:
# one node may die without losing or refusing anything. Fewer nodes, fewer copies.
KAFKA_REPLICATION_FACTOR=$((KAFKA_NODES < 3 ? KAFKA_NODES : 3))
KAFKA_MIN_INSYNC=$((KAFKA_REPLICATION_FACTOR > 1 ? KAFKA_REPLICATION_FACTOR - 1 : 1))
if [ "$KAFKA_NODES" = 1 ]; then KAFKA_HEAP="${OPSREVIEW_KAFKA_HEAP:-512m}"; else KAFKA_HEAP="${OPSREVIEW_KAFKA_HEAP:-384m}"; fi
ES_HEAP="${OPSREVIEW_ES_HEAP:-1g}"
# How long a start waits for Elasticsearch to answer, in seconds: a fresh node on a busy 2-core machine
# takes a minute or more.
ES_WAIT="${OPSREVIEW_ES_WAIT:-120}"
[[ "$ES_WAIT" =~ ^[1-9][0-9]*$ ]] || { printf '[opsreview] error: OPSREVIEW_ES_WAIT must be a whole number of seconds, not "%s"\n' "$ES_WAIT" >&2; exit 1; }
ES_USER="${OPSREVIEW_ES_USER:-opsreview}"

log() { printf '[opsreview] %s\n' "$*" >&2; }

# Commands a script runs in process groups of their own, so that an interrupted script ends them whole
# (pnpm, vitest and its workers): such a group gets neither the terminal's Ctrl-C nor a signal sent to the
# script alone. `in_group ARGS…` starts one in the background (stdin /dev/null: a background group that
# reads the terminal is stopped); `wait_group` waits for the latest; `end_groups` ends those still running.
GROUPS_STARTED=()
in_group() {
  set -m
  "$@" </dev/null &
  GROUPS_STARTED+=("$!")
  set +m
}
wait_group() { wait "${GROUPS_STARTED[-1]}"; }
end_groups() {
  local pid
  for pid in "${GROUPS_STARTED[@]}"; do
    kill -0 "$pid" 2>/dev/null || continue
    kill -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
}
# INT, TERM and HUP end the script (and so run its EXIT trap) at once, also while it waits for a group. Left
# untrapped, bash ran the EXIT trap and exited, and a command in the foreground went on.
exit_on_signals() {
  trap 'exit 130' INT
  trap 'exit 143' TERM
  trap 'exit 129' HUP
}
die() { log "error: $*"; exit 1; }
# The homes the tests make for engines of their own (ownHome, test/e2e/src/local-scripts.ts), one a line in the
# file OPSREVIEW_TEST_HOMES_FILE names. Those engines (and a test's `run.sh start`) run in sessions of their
# own, so ending a test run's groups leaves them running, and the tests' cleanup (afterAll, onTestFinished)
# never runs once vitest is ended: an interrupted `pnpm test` left JVMs holding memory and ports.
# `record_test_homes` makes the file for a run; `stop_test_homes` stops what runs from each home in it.
record_test_homes() {
  OPSREVIEW_TEST_HOMES_FILE="$(mktemp)"
  export OPSREVIEW_TEST_HOMES_FILE
}
stop_test_homes() {
  local file="${OPSREVIEW_TEST_HOMES_FILE:-}" home pids=() pid
  [ -n "$file" ] && [ -f "$file" ] || return 0
  while IFS= read -r home; do
    # A test that finished removed its home, and stopped what ran there first.
    [ -n "$home" ] && [ -d "$home" ] || continue
    log "stopping what runs from $home, a home a test of this run made"
    # run.sh stop signals only a process its pid file names and whose command line is that home's (pid_ours):
    # the stack of the run's own home, and anyone else's, are not touched. Without the run's OPSREVIEW_*
    # settings: they describe the run's stack, not that home's, and a stop needs none but the home.
    (
      unset $(compgen -e | grep '^OPSREVIEW_')
      OPSREVIEW_HOME="$home" exec bash "$OPSREVIEW_REPO/infra/local/run.sh" stop
    ) &
    pids+=("$!")
  done < <(sort -u "$file")
  # The homes' stops at once: each waits up to a minute for a slow engine to shut down.
  for pid in "${pids[@]}"; do wait "$pid" || true; done
  rm -f "$file"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# port_taken PORT WHAT VARIABLE: a start found PORT held by a process this stack did not start; says who to ask
# and which setting moves this stack off it.
port_taken() {
  die "port $1 ($2) is taken by a process this stack did not start: stop that process (ss -ltnp 'sport = :$1' names it), or give this stack another port ($3)"
}

# pid_is PID PATTERN...: process PID runs and its command line (/proc/PID/cmdline, arguments joined by
# spaces) contains every PATTERN. A zombie's command line is empty, so it does not count. A PATTERN
# env:NAME=VALUE is instead one entry of the environment the process was started with (/proc/PID/environ).
pid_is() {
  local pid="$1" cmdline environ pattern; shift
  [[ "$pid" =~ ^[1-9][0-9]*$ ]] || return 1
  cmdline="$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline")" || return 1
  for pattern in "$@"; do
    if [[ "$pattern" == env:* ]]; then
      # Read whole first: grep -q leaving a pipe early fails the pipeline under pipefail.
      environ="$(tr '\0' '\n' 2>/dev/null < "/proc/$pid/environ")" || return 1
      grep -Fxq -- "${pattern#env:}" <<< "$environ" || return 1
    else
      [[ "$cmdline" == *"$pattern"* ]] || return 1
    fi
  done
}

# pid_ours PIDFILE PATTERN...: PIDFILE names a live process that is ours (pid_is with the PATTERNs). A
# pid file whose process is gone, or whose pid now belongs to another program, is removed with a note:
# its pid is never signalled.
pid_ours() {
  local file="$1" pid; shift
  [ -f "$file" ] || return 1
  pid="$(cat "$file" 2>/dev/null)" || true
  pid_is "$pid" "$@" && return 0
  if [[ "$pid" =~ ^[1-9][0-9]*$ ]] && kill -0 "$pid" 2>/dev/null; then
    # Alive but not what we started (a reused pid, or a launch we cannot recognise): never signalled, and
    # the file stays for a person to look at; a start then finds the port taken and says so.
    log "pid file $file names pid $pid, which runs but is not ${1:-ours}: left alone"
    return 1
  fi
  log "removing stale pid file $file: pid ${pid:-(none)} is not running"
  rm -f "$file"
  return 1
}

# pid_gone PID PATTERN...: the process has let go of everything it held. A dying process's command line
# reads empty (pid_is fails) while it, or one of a JVM's other threads, still closes its sockets, so a start
# right after a kill would find the port taken: gone is no process, or a zombie with no thread beside it.
pid_gone() {
  local pid="$1"; shift
  pid_is "$pid" "$@" && return 1
  [ -d "/proc/$pid" ] || return 0
  [[ "$(sed -n 's/^State:[[:space:]]*\([A-Z]\).*/\1/p' "/proc/$pid/status" 2>/dev/null)" =~ ^[ZX]?$ ]] &&
    [ "$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" -le 1 ]
}

# stop_pidfile NAME PIDFILE SIGNAL SECONDS PATTERN...: signals the process only when it is ours (pid_ours),
# waits SECONDS for it to go, then SIGKILL; the pid file goes either way.
stop_pidfile() {
  local name="$1" pidfile="$2" signal="$3" secs="$4"; shift 4
  if pid_ours "$pidfile" "$@"; then
    local pid; pid="$(cat "$pidfile")"
    log "stopping $name (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    # A stopped process (SIGSTOP, Ctrl-Z) acts on the signal only once continued: a stop of a paused
    # Elasticsearch waited the whole SECONDS, then killed it.
    [ "$signal" = KILL ] || kill -CONT "$pid" 2>/dev/null || true
    if ! wait_for "$name to exit" "$secs" pid_gone "$pid" "$@"; then
      { pid_is "$pid" "$@" && kill -9 "$pid" 2>/dev/null; } || true
      # Gone for good before the pid file goes: a start right after must find its ports free.
      wait_for "$name to exit after SIGKILL" 10 pid_gone "$pid" "$@" || true
    fi
  fi
  rm -f "$pidfile"
}

# What our own processes' command lines contain: this home's Kafka node K, Elasticsearch, a service.
kafka_cmdline_of() { echo "kafka.Kafka $(kafka_run_of "$1")/server.properties"; }
ES_CMDLINE=(org.elasticsearch "-Djava.io.tmpdir=$ES_RUN/tmp")
service_cmdline_of() { echo "$OPSREVIEW_REPO/services/$1/src/main.ts"; }
# A service's command line names the checkout, not the home: every home run from one checkout has the same
# ones, and a pid file of one home (stale after a reboot, or a copied home) named another home's service,
# which that home's stop then stopped. A service inherits this home's OPSREVIEW_HOME (exported above).
SERVICE_HOME_ENV="env:OPSREVIEW_HOME=$OPSREVIEW_HOME"
# Whether this home's Kafka node K (Elasticsearch) runs: its pid file names our process, answering or not.
kafka_pid_ok() { pid_ours "$(kafka_run_of "$1")/kafka.pid" "$(kafka_cmdline_of "$1")"; }
es_pid_ok() { pid_ours "$ES_RUN/es.pid" "${ES_CMDLINE[@]}"; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -ge $deadline ] && { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.5
  done
}
