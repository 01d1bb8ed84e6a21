#!/usr/bin/env bash
# The local engines: a real Apache Kafka (KRaft; one broker, or with OPSREVIEW_KAFKA_NODES=3 a cluster
# of three combined broker/controller nodes, docs/cluster.md) and a real Elasticsearch 8 (one node), run
# as JVM processes from Maven Central artifacts. No Docker needed. PART is kafka (every node), kafka-K
# (one node of a cluster) or elasticsearch.
#
#   stack.sh start [PART]   fetch what is missing, start, wait for health (idempotent)
#   stack.sh stop  [PART]   graceful stop; data is kept
#   stack.sh kill  PART     SIGKILL, for the outage tests and the chaos run
#   stack.sh status         what runs, exit 1 when something is down
#   stack.sh pids           the same as `NAME up pid N` / `NAME down` lines
#   stack.sh brokers        the bootstrap list of this stack's Kafka nodes
#   stack.sh logs  [PART]   follow an engine's log
#   stack.sh reset          stop and delete all engine data
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

fetch_kafka() {
  [ -f "$KAFKA_HOME/.complete" ] && return
  command -v mvn >/dev/null || die "Maven is needed to fetch Kafka (apt-get install maven)"
  log "fetching Kafka $KAFKA_VERSION from Maven Central"
  rm -rf "$KAFKA_HOME"
  mvn -q -B -Dstyle.color=never -f "$OPSREVIEW_REPO/infra/local/pom.xml" -Pkafka dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_HOME/libs" >&2
  touch "$KAFKA_HOME/.complete"
}

fetch_elasticsearch() {
  [ -f "$ES_HOME/.complete" ] && return
  command -v mvn >/dev/null || die "Maven is needed to fetch Elasticsearch (apt-get install maven)"
  log "fetching Elasticsearch $ES_VERSION from Maven Central"
  local dl="$OPSREVIEW_HOME/downloads"
  mkdir -p "$dl" "$OPSREVIEW_HOME/engines"
  mvn -q -B -Dstyle.color=never -f "$OPSREVIEW_REPO/infra/local/pom.xml" dependency:copy \
    -Dartifact="org.elasticsearch.distribution.integ-test-zip:elasticsearch:$ES_VERSION:zip" -DoutputDirectory="$dl" >&2
  rm -rf "$ES_HOME"
  (cd "$OPSREVIEW_HOME/engines" && if command -v unzip >/dev/null; then unzip -q "$dl/elasticsearch-$ES_VERSION.zip"; else jar xf "$dl/elasticsearch-$ES_VERSION.zip" && chmod +x "$ES_HOME"/bin/*; fi)
  rm -f "$dl/elasticsearch-$ES_VERSION.zip"
  touch "$ES_HOME/.complete"
}

# Elasticsearch refuses to run as root; as root we run it as an unprivileged system user.
as_es_user() {
  if [ "$(id -u)" = 0 ]; then
    id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"
    setpriv --reuid="$ES_USER" --regid="$ES_USER" --init-groups "$@"
  else
    "$@"
  fi
}

# kafka_answers PORT: a Kafka ApiVersions request (v0, correlation id 1, no client id) on 127.0.0.1:PORT
# gets its reply: the size, correlation id 1 and error code 0. Neither an open port (the listener is bound
# before the broker serves requests) nor a line of its log (server.log rolls at 20 MB) says that. timeout
# bounds the whole round trip, the connect included.
kafka_answers() {
  local reply
  reply="$(timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "\x00\x00\x00\x0a\x00\x12\x00\x00\x00\x00\x00\x01\xff\xff" >&3 && head -c 10 <&3' _ "$1" 2>/dev/null | od -An -tx1 | tr -d ' \n')" || true
  [ "${reply:8:12}" = 000000010000 ]
}

# Node k is healthy when its broker answers on its client port and its pid file names it. The answer is
# checked first: right after the launch the pid is still the shell that is about to exec Java.
kafka_healthy() {
  kafka_answers "$(kafka_port_of "$1")" && kafka_pid_ok "$1"
}
# For status: the pid file first, so a stale one is noted and removed even while the port is closed.
kafka_up() { kafka_pid_ok "$1" && kafka_answers "$(kafka_port_of "$1")"; }

write_kafka_config() {
  local k="$1" run port cport voters="" j
  run="$(kafka_run_of "$k")"; port="$(kafka_port_of "$k")"; cport="$(kafka_controller_port_of "$k")"
  for j in $(seq 1 "$KAFKA_NODES"); do voters="$voters${voters:+,}$j@127.0.0.1:$(kafka_controller_port_of "$j")"; done
  mkdir -p "$run/data" "$run/logs"
  cat > "$run/server.properties" <<PROPS
process.roles=broker,controller
node.id=$k
controller.quorum.voters=$voters
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$run/data
num.partitions=3
# Topics the services create without a replication factor get the cluster's, and a write is acknowledged
# (acks=all) once min.insync.replicas copies have it; internal topics alike. One broker: one copy.
default.replication.factor=$KAFKA_REPLICATION_FACTOR
min.insync.replicas=$KAFKA_MIN_INSYNC
offsets.topic.replication.factor=$KAFKA_REPLICATION_FACTOR
transaction.state.log.replication.factor=$KAFKA_REPLICATION_FACTOR
transaction.state.log.min.isr=$KAFKA_MIN_INSYNC
group.initial.rebalance.delay.ms=0
# Topics are created by the services with their own retention and cleanup policy.
auto.create.topics.enable=false
PROPS
  if [ "$KAFKA_NODES" != 1 ]; then
    # Three JVMs share two cores: fewer threads than the per-broker defaults.
    cat >> "$run/server.properties" <<PROPS
num.network.threads=2
num.io.threads=4
num.replica.fetchers=1
PROPS
  fi
  cat > "$run/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$run/logs/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
PROPS
}

# Every node of a cluster is formatted with the same cluster id, kept beside the nodes.
kafka_cluster_id() {
  local file="$OPSREVIEW_HOME/kafka-cluster.id"
  [ "$KAFKA_NODES" = 1 ] && file="$KAFKA_RUN/cluster.id"
  if [ ! -s "$file" ]; then
    mkdir -p "$(dirname "$file")"
    java -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null > "$file"
  fi
  cat "$file"
}

# kafka_node_on_port PORT: the part (kafka, kafka-K) of this home's running Kafka node that listens for
# clients on PORT, whatever OPSREVIEW_KAFKA_NODES says now.
kafka_node_on_port() {
  local run
  for run in "$OPSREVIEW_HOME/kafka" "$OPSREVIEW_HOME"/kafka-[1-9]; do
    [ -f "$run/kafka.pid" ] && grep -q "^listeners=PLAINTEXT://127.0.0.1:$1," "$run/server.properties" 2>/dev/null \
      && pid_ours "$run/kafka.pid" "kafka.Kafka $run/server.properties" && { basename "$run"; return 0; }
  done
  return 1
}

# Launches node k (or leaves it if it runs); the caller waits for health, since a cluster's first node
# only finishes starting once a majority of the controller quorum is up.
launch_kafka_node() {
  local k="$1" run port part
  run="$(kafka_run_of "$k")"; port="$(kafka_port_of "$k")"; part="$(kafka_part_of "$k")"
  kafka_pid_ok "$k" && return
  if port_open "$port"; then
    local holder holder_pid
    if holder="$(kafka_node_on_port "$port")"; then
      # The single broker and node 1 of a cluster share the first port; the two modes are separate data sets.
      holder_pid="$(cat "$OPSREVIEW_HOME/$holder/kafka.pid")"
      case "$holder" in
        kafka) die "port $port of $part is taken by this home's single-node Kafka (pid $holder_pid): the single broker and a cluster's first node use the same port and do not share topics; stop it first (pnpm stack stop kafka), or start without OPSREVIEW_KAFKA_NODES to use it" ;;
        *) [ "$KAFKA_NODES" = 1 ] && die "port $port of the single-node Kafka is taken by $holder of this home's $(voters_of "$OPSREVIEW_HOME/$holder")-node Kafka cluster (pid $holder_pid): the single broker and a cluster's first node use the same port and do not share topics; stop the cluster first (pnpm stack stop kafka), or start with OPSREVIEW_KAFKA_NODES=$(voters_of "$OPSREVIEW_HOME/$holder") to use it"
           die "port $port of $part is taken by this home's $holder (pid $holder_pid), started with other ports: stop it first (pnpm stack stop kafka)" ;;
      esac
    fi
    port_taken "$port" "$part" OPSREVIEW_KAFKA_PORT
  fi
  port_open "$(kafka_controller_port_of "$k")" && port_taken "$(kafka_controller_port_of "$k")" "controller of $part" OPSREVIEW_KAFKA_CONTROLLER_PORT
  write_kafka_config "$k"
  if [ ! -f "$run/data/meta.properties" ]; then
    java -cp "$KAFKA_HOME/libs/*" -Dlog4j.configuration="file:$run/log4j.properties" \
      kafka.tools.StorageTool format -t "$(kafka_cluster_id)" -c "$run/server.properties" >&2
  fi
  : > "$run/logs/server.log"
  log "starting $part: Kafka $KAFKA_VERSION on 127.0.0.1:$port (heap $KAFKA_HEAP)"
  # The JVM flags are those of Kafka's own kafka-server-start.sh: short G1 pauses keep produce latency flat.
  # setsid: the broker is in a session of its own, so whatever started it (a terminal, a test worker)
  # can end without taking it along.
  setsid nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$run/log4j.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$run/server.properties" \
    > "$run/logs/stdout.log" 2>&1 < /dev/null 8>&- &
  echo $! > "$run/kafka.pid"
}

# The broker logs to server.log (a port it cannot bind, say); stdout has only what the JVM says before that
# (a heap it cannot have).
kafka_logs() { local run; run="$(kafka_run_of "$1")"; tail -n 20 "$run/logs/stdout.log" "$run/logs/server.log" >&2; }

# kafka_up_or_gone K: node K is healthy; or its JVM is gone, and waiting on is no use: its logs, and exit.
kafka_up_or_gone() {
  kafka_healthy "$1" && return 0
  kafka_pid_ok "$1" && return 1
  log "$(kafka_part_of "$1") exited while starting"
  kafka_logs "$1"
  exit 1
}

# start_kafka [NODE...]: the given nodes (default all), then waits until each is healthy.
start_kafka() {
  local nodes="${*:-$(seq 1 "$KAFKA_NODES")}" k
  fetch_kafka
  for k in $nodes; do launch_kafka_node "$k"; done
  for k in $nodes; do
    wait_for "$(kafka_part_of "$k") on :$(kafka_port_of "$k")" 120 kafka_up_or_gone "$k" || { kafka_logs "$k"; exit 1; }
    log "$(kafka_part_of "$k") ready on 127.0.0.1:$(kafka_port_of "$k")"
  done
}

es_healthy() {
  curl -fsS -m 2 "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

# Our own Elasticsearch (its pid file names it) runs but did not answer: it holds its port, and was reported
# as "a process this stack did not start" (a hung or SIGSTOPped node: the chaos run stops it on purpose).
es_not_answering() {
  local pid state
  pid="$(cat "$ES_RUN/es.pid")"
  state="$(sed -n 's/^State:[[:space:]]*//p' "/proc/$pid/status" 2>/dev/null)"
  if [[ "$state" == T* ]]; then
    die "this stack's Elasticsearch (pid $pid, $ES_RUN/es.pid) is stopped (SIGSTOP, state $state) and does not answer on :$ES_PORT: resume it (kill -CONT $pid), or restart it (pnpm stack stop elasticsearch, then pnpm stack start elasticsearch)"
  fi
  die "this stack's Elasticsearch (pid $pid, $ES_RUN/es.pid) runs but has not answered on :$ES_PORT for $ES_WAIT s (state ${state:-unknown}): see its log ($ES_RUN/logs/opsreview-local.log), then restart it (pnpm stack stop elasticsearch, then pnpm stack start elasticsearch)"
}

start_elasticsearch() {
  if es_pid_ok; then
    wait_for "Elasticsearch on :$ES_PORT" "$ES_WAIT" es_healthy && { log "elasticsearch already running on 127.0.0.1:$ES_PORT"; return; }
    es_not_answering
  fi
  port_open "$ES_PORT" && port_taken "$ES_PORT" elasticsearch OPSREVIEW_ES_PORT
  # Else Elasticsearch fails half a minute later, saying so deep in a Java stack trace.
  port_open "$ES_TRANSPORT_PORT" && port_taken "$ES_TRANSPORT_PORT" "elasticsearch transport" OPSREVIEW_ES_TRANSPORT_PORT
  fetch_elasticsearch
  mkdir -p "$ES_RUN/data" "$ES_RUN/logs" "$ES_RUN/tmp" "$ES_RUN/config"
  cp -r "$ES_HOME/config/." "$ES_RUN/config/"
  cat > "$ES_RUN/config/elasticsearch.yml" <<YML
cluster.name: opsreview-local
node.name: opsreview-local
discovery.type: single-node
network.host: 127.0.0.1
http.port: $ES_PORT
transport.port: $ES_TRANSPORT_PORT
path.data: $ES_RUN/data
path.logs: $ES_RUN/logs
# Local use only: no TLS, no users.
xpack.security.enabled: false
# A laptop disk that is 90% full must not turn the index read-only under a developer.
cluster.routing.allocation.disk.threshold_enabled: false
action.destructive_requires_name: false
YML
  [ "$(id -u)" = 0 ] && { id "$ES_USER" >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin "$ES_USER"; chown -R "$ES_USER:" "$ES_RUN"; }
  # Elasticsearch refuses to run as root, so as root it runs as $ES_USER, who must reach the engine and its
  # data: not so under a directory only root may enter (/root, or a mktemp -d folder).
  as_es_user test -x "$ES_HOME/bin/elasticsearch" -a -w "$ES_RUN/data" \
    || die "Elasticsearch runs as user $ES_USER, who cannot reach $ES_HOME or $ES_RUN: put OPSREVIEW_HOME ($OPSREVIEW_HOME) where every user may enter its parent folders (chmod o+x), e.g. the default /var/lib/opsreview"
  rm -f "$ES_RUN/es.pid"
  log "starting Elasticsearch $ES_VERSION (heap $ES_HEAP)"
  local java_home="${ES_JAVA_HOME:-${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}}"
  # CLI_JAVA_OPTS: the launcher probes the JVM's final flags in a directory it leaves behind in java.io.tmpdir.
  # The launcher splits CLI_JAVA_OPTS at spaces, so a home with one in its path leaves that directory in /tmp.
  local cli_opts=()
  [[ "$ES_RUN" == *[[:space:]]* ]] || cli_opts=(CLI_JAVA_OPTS="-Djava.io.tmpdir=$ES_RUN/tmp")
  as_es_user setsid env ES_PATH_CONF="$ES_RUN/config" ES_JAVA_HOME="$java_home" ES_TMPDIR="$ES_RUN/tmp" \
    ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" "${cli_opts[@]}" \
    "$ES_HOME/bin/elasticsearch" -d -p "$ES_RUN/es.pid" > "$ES_RUN/logs/stdout.log" 2>&1 8>&- \
    || { tail -30 "$ES_RUN/logs/stdout.log" >&2; exit 1; }
  wait_for "Elasticsearch on :$ES_PORT" "$ES_WAIT" es_healthy || { tail -30 "$ES_RUN/logs/opsreview-local.log" >&2; exit 1; }
  log "elasticsearch ready on http://127.0.0.1:$ES_PORT"
}

# stop_kafka SIGNAL [NODE...]: the nodes together, so none waits for a quorum the others already left.
stop_kafka() {
  local signal="$1"; shift
  local nodes="${*:-$(seq 1 "$KAFKA_NODES")}" k runs=()
  for k in $nodes; do runs+=("$(kafka_run_of "$k")"); done
  stop_runs "$signal" "${runs[@]}"
}

# stop_every_node SIGNAL: every Kafka node that runs from this home, together, whatever OPSREVIEW_KAFKA_NODES
# says now: a cluster started with OPSREVIEW_KAFKA_NODES=3 and stopped without it (or a single node stopped
# with it) ran on, holding its ports; stopped a few at a time, the last ones waited for a quorum gone.
stop_every_node() {
  local signal="$1" run runs=()
  for run in "$OPSREVIEW_HOME/kafka" "$OPSREVIEW_HOME"/kafka-[1-9]; do
    [ -f "$run/kafka.pid" ] && runs+=("$run")
  done
  stop_runs "$signal" "${runs[@]}"
}

# Seconds the nodes still up may go on shutting down once too few are left to make a controller quorum.
QUORUM_GONE_SECS=10

# voters_of RUN: how many controllers the node's cluster has (its controller.quorum.voters).
voters_of() {
  local voters
  voters="$(sed -n 's/^controller\.quorum\.voters=//p' "$1/server.properties" 2>/dev/null)"
  [ -n "$voters" ] || { echo 1; return; }
  echo "$voters" | tr ',' '\n' | grep -c .
}

# stop_runs SIGNAL RUN...: the Kafka node of each run directory, together. Signalled at once, a node the
# host is slow to schedule can still find the others gone before its controlled shutdown was approved, and
# then waits for a controller quorum that cannot form again (Kafka waits up to 5 minutes; here 60 s, then
# SIGKILL, seen in CI on a loaded host 2026-12-05): once no majority of the cluster's controllers is left,
# those still up get QUORUM_GONE_SECS more, and are then killed. The majority counts every node of the
# cluster (kafka-K) that runs, stopped now or not (one node stopped of three is approved by the other two),
# out of the cluster's voters, not out of the nodes stopped: the last node of a cluster whose other nodes
# had died waited the whole 60 s (until 2026-12-06). A stopped broker's log is on disk whether it exits or
# is killed; a kill only costs the next start a log recovery.
stop_runs() {
  local signal="$1"; shift
  local run i pids=() patterns=() live=() voters=1 v cluster_pids=() cluster_patterns=() up waited=0
  for run in "$@"; do
    if pid_ours "$run/kafka.pid" "kafka.Kafka $run/server.properties"; then
      pids+=("$(cat "$run/kafka.pid")"); patterns+=("kafka.Kafka $run/server.properties")
      v="$(voters_of "$run")"; [ "$v" -gt "$voters" ] && voters="$v"
    fi
  done
  # The cluster's nodes only: the single node's directory (kafka) is another cluster of one voter.
  for run in "$OPSREVIEW_HOME"/kafka-[1-9]; do
    [ -f "$run/kafka.pid" ] || continue
    # A status run beside this one may remove a stale pid file between the test and the read.
    cluster_pids+=("$(cat "$run/kafka.pid" 2>/dev/null || true)"); cluster_patterns+=("kafka.Kafka $run/server.properties")
  done
  for run in "$@"; do
    stop_pidfile "$(basename "$run")" "$run/kafka.pid" "$signal" 60 "kafka.Kafka $run/server.properties" &
  done
  if [ "$signal" = TERM ] && [ "$voters" -gt 1 ] && [ "${#pids[@]}" -gt 0 ]; then
    while :; do
      live=()
      for i in "${!pids[@]}"; do pid_is "${pids[$i]}" "${patterns[$i]}" && live+=("$i"); done
      [ "${#live[@]}" -eq 0 ] && break
      up=0
      for i in "${!cluster_pids[@]}"; do pid_is "${cluster_pids[$i]}" "${cluster_patterns[$i]}" && up=$((up + 1)); done
      # Two of three still make a quorum, and may be busy with a shutdown it will approve.
      if [ $((2 * up)) -le "$voters" ]; then waited=$((waited + 1)); fi
      if [ "$waited" -ge $((QUORUM_GONE_SECS * 2)) ]; then
        for i in "${live[@]}"; do
          log "kafka pid ${pids[$i]} still shutting down ${QUORUM_GONE_SECS}s after too few nodes were left for a controller quorum to approve it: SIGKILL"
          # Checked again at the kill: the pid is still that node's.
          { pid_is "${pids[$i]}" "${patterns[$i]}" && kill -9 "${pids[$i]}" 2>/dev/null; } || true
        done
        break
      fi
      sleep 0.5
    done
  fi
  wait
}

# A part named on the command line: kafka (every node), kafka-K (one node of a cluster), elasticsearch.
# Prints "kafka NODES" or "elasticsearch".
resolve_part() {
  case "$1" in
    kafka) echo "kafka $(seq 1 "$KAFKA_NODES" | tr '\n' ' ')" ;;
    kafka-[1-9])
      local k="${1#kafka-}"
      [ "$KAFKA_NODES" != 1 ] && [ "$k" -le "$KAFKA_NODES" ] || die "no $1: this stack runs $KAFKA_NODES Kafka node(s) (OPSREVIEW_KAFKA_NODES)"
      echo "kafka $k" ;;
    elasticsearch) echo elasticsearch ;;
    *) die "unknown part: $1 (kafka, kafka-K of a cluster, elasticsearch)" ;;
  esac
}

# act start|stop|kill [PART]: every part when none is given.
act() {
  local action="$1" part="${2:-}" engine nodes resolved
  if [ -z "$part" ]; then act "$action" kafka; act "$action" elasticsearch; return; fi
  resolved="$(resolve_part "$part")" || exit 1
  read -r engine nodes <<< "$resolved"
  case "$engine/$action" in
    kafka/start) start_kafka $nodes ;;
    kafka/stop) if [ "$part" = kafka ]; then stop_every_node TERM; else stop_kafka TERM $nodes; fi ;;
    kafka/kill) if [ "$part" = kafka ]; then stop_every_node KILL; else stop_kafka KILL $nodes; fi ;;
    elasticsearch/start) start_elasticsearch ;;
    elasticsearch/stop) stop_pidfile elasticsearch "$ES_RUN/es.pid" TERM 60 "${ES_CMDLINE[@]}" ;;
    elasticsearch/kill) stop_pidfile elasticsearch "$ES_RUN/es.pid" KILL 60 "${ES_CMDLINE[@]}" ;;
  esac
}

# One start, stop or kill at a time per home: two starts at once (pnpm start beside pnpm test) both found
# an engine down and launched it, and the one whose pid file lost ran on, untracked, holding the ports.
# The engines are launched without the lock's descriptor (8>&-): inherited, it held the lock while they ran.
lock_home() {
  mkdir -p "$OPSREVIEW_HOME"
  exec 8> "$OPSREVIEW_HOME/.stack.lock"
  flock -n 8 && return
  log "waiting for another stack.sh start, stop or kill in $OPSREVIEW_HOME to finish"
  flock -w 600 8 || die "another stack.sh start, stop or kill in $OPSREVIEW_HOME has held it for 10 minutes"
}

cmd="${1:-status}"; shift || true
case "$cmd" in
  start|stop) lock_home; act "$cmd" "${1:-}" ;;
  kill) [ -n "${1:-}" ] || die "kill needs a part"; lock_home; act kill "$1" ;;
  status)
    rc=0
    for k in $(seq 1 "$KAFKA_NODES"); do
      if kafka_up "$k"; then printf '%-14s up    127.0.0.1:%s\n' "$(kafka_part_of "$k")" "$(kafka_port_of "$k")"
      else printf '%-14s down\n' "$(kafka_part_of "$k")"; rc=1; fi
    done
    if es_pid_ok && es_healthy; then echo "elasticsearch  up    http://127.0.0.1:$ES_PORT"; else echo "elasticsearch  down"; rc=1; fi
    exit $rc ;;
  pids)
    # One line per engine part, `NAME up pid N` or `NAME down` (run.sh status prints these first).
    rc=0
    for k in $(seq 1 "$KAFKA_NODES"); do
      run="$(kafka_run_of "$k")"
      if kafka_up "$k"; then echo "$(kafka_part_of "$k") up pid $(cat "$run/kafka.pid")"; else echo "$(kafka_part_of "$k") down"; rc=1; fi
    done
    if es_pid_ok && es_healthy; then echo "elasticsearch up pid $(cat "$ES_RUN/es.pid")"; else echo "elasticsearch down"; rc=1; fi
    exit $rc ;;
  brokers) kafka_brokers ;;
  logs)
    part="${1:-kafka}"
    case "$part" in
      kafka) [ "$KAFKA_NODES" = 1 ] || die "name a node: kafka-1 … kafka-$KAFKA_NODES"; exec tail -n 50 -F "$KAFKA_RUN/logs/server.log" ;;
      kafka-*) resolved="$(resolve_part "$part")" || exit 1; k="${resolved#kafka }"; exec tail -n 50 -F "$(kafka_run_of "$k")/logs/server.log" ;;
      elasticsearch) exec tail -n 50 -F "$ES_RUN/logs/opsreview-local.log" ;;
      *) die "unknown part: $part" ;;
    esac ;;
  reset)
    # A run.sh start in progress launches its services after the check below: while one holds run.sh's lock,
    # a reset is refused rather than waited for (it would then find the services running anyway).
    mkdir -p "$OPSREVIEW_HOME"
    exec 7>> "$OPSREVIEW_HOME/.run.lock"
    flock -n 7 || die "a run.sh $(cat "$OPSREVIEW_HOME/.run.lock" 2>/dev/null || echo 'start or stop') is in progress in $OPSREVIEW_HOME: let it finish, stop the services (bash infra/local/run.sh stop), then reset"
    lock_home
    # The services' topics go with Kafka's data and are not made again while they run: every webhook then
    # got 503 until they were restarted, while `run.sh status` said all was up.
    for pidfile in "$SERVICES_RUN"/*.pid; do
      name="$(basename "$pidfile" .pid)"
      [ -f "$pidfile" ] && pid_ours "$pidfile" "$(service_cmdline_of "${name%-[1-9]}")" "$SERVICE_HOME_ENV" \
        && die "the services of $OPSREVIEW_HOME run ($name): stop them first (bash infra/local/run.sh stop)"
    done
    act stop
    log "deleting engine data under $OPSREVIEW_HOME"
    rm -rf "$KAFKA_RUN" "$OPSREVIEW_HOME"/kafka-[1-9] "$OPSREVIEW_HOME/kafka-cluster.id" "$ES_RUN" ;;
  *) die "usage: stack.sh start|stop|kill|status|pids|brokers|logs|reset [kafka|kafka-K|elasticsearch]" ;;
esac
