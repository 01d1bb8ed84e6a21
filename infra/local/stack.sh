#!/usr/bin/env bash
# The local engines: a real Apache Kafka (KRaft, one broker) and a real Elasticsearch 8 (one node),
# run as JVM processes from Maven Central artifacts. No Docker needed.
#
#   stack.sh start [kafka|elasticsearch]   fetch what is missing, start, wait for health (idempotent)
#   stack.sh stop  [kafka|elasticsearch]   graceful stop; data is kept
#   stack.sh kill  kafka|elasticsearch     SIGKILL, for the outage tests
#   stack.sh status                        what runs, exit 1 when something is down
#   stack.sh logs  [kafka|elasticsearch]   follow an engine's log
#   stack.sh reset                         stop and delete all engine data
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

engines_for() { if [ -n "${1:-}" ]; then echo "$1"; else echo "kafka elasticsearch"; fi; }

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

kafka_healthy() { port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$KAFKA_RUN/logs/server.log" 2>/dev/null; }

start_kafka() {
  if pid_alive "$KAFKA_RUN/kafka.pid"; then
    wait_for "Kafka on :$KAFKA_PORT" 60 kafka_healthy && { log "kafka already running on 127.0.0.1:$KAFKA_PORT"; return; }
  fi
  port_open "$KAFKA_PORT" && die "port $KAFKA_PORT is taken by a process this stack did not start"
  fetch_kafka
  mkdir -p "$KAFKA_RUN/data" "$KAFKA_RUN/logs"
  cat > "$KAFKA_RUN/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$KAFKA_RUN/data
num.partitions=3
# One broker: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
# Topics are created by the services with their own retention and cleanup policy.
auto.create.topics.enable=false
PROPS
  cat > "$KAFKA_RUN/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_RUN/logs/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=3
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
PROPS
  if [ ! -f "$KAFKA_RUN/data/meta.properties" ]; then
    local cluster_id
    cluster_id="$(java -cp "$KAFKA_HOME/libs/*" kafka.tools.StorageTool random-uuid 2>/dev/null)"
    java -cp "$KAFKA_HOME/libs/*" -Dlog4j.configuration="file:$KAFKA_RUN/log4j.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$KAFKA_RUN/server.properties" >&2
  fi
  : > "$KAFKA_RUN/logs/server.log"
  log "starting Kafka $KAFKA_VERSION (heap $KAFKA_HEAP)"
  # The JVM flags are those of Kafka's own kafka-server-start.sh: short G1 pauses keep produce latency flat.
  # setsid: the broker is in a session of its own, so whatever started it (a terminal, a test worker)
  # can end without taking it along.
  setsid nohup java -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_RUN/log4j.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$KAFKA_RUN/server.properties" \
    > "$KAFKA_RUN/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$KAFKA_RUN/kafka.pid"
  wait_for "Kafka on :$KAFKA_PORT" 90 kafka_healthy || { tail -20 "$KAFKA_RUN/logs/stdout.log" >&2; exit 1; }
  log "kafka ready on 127.0.0.1:$KAFKA_PORT"
}

es_healthy() {
  curl -fsS -m 2 "http://127.0.0.1:$ES_PORT/_cluster/health?wait_for_status=yellow&timeout=1s" >/dev/null 2>&1
}

start_elasticsearch() {
  if pid_alive "$ES_RUN/es.pid"; then
    wait_for "Elasticsearch on :$ES_PORT" 120 es_healthy && { log "elasticsearch already running on 127.0.0.1:$ES_PORT"; return; }
  fi
  port_open "$ES_PORT" && die "port $ES_PORT is taken by a process this stack did not start"
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
  rm -f "$ES_RUN/es.pid"
  log "starting Elasticsearch $ES_VERSION (heap $ES_HEAP)"
  local java_home="${ES_JAVA_HOME:-${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v java)")")")}}"
  as_es_user setsid env ES_PATH_CONF="$ES_RUN/config" ES_JAVA_HOME="$java_home" ES_TMPDIR="$ES_RUN/tmp" \
    ES_JAVA_OPTS="-Xms$ES_HEAP -Xmx$ES_HEAP" \
    "$ES_HOME/bin/elasticsearch" -d -p "$ES_RUN/es.pid" > "$ES_RUN/logs/stdout.log" 2>&1 \
    || { tail -30 "$ES_RUN/logs/stdout.log" >&2; exit 1; }
  wait_for "Elasticsearch on :$ES_PORT" 120 es_healthy || { tail -30 "$ES_RUN/logs/opsreview-local.log" >&2; exit 1; }
  log "elasticsearch ready on http://127.0.0.1:$ES_PORT"
}

stop_pidfile() {
  local name="$1" pidfile="$2" signal="${3:-TERM}"
  if pid_alive "$pidfile"; then
    local pid; pid="$(cat "$pidfile")"
    log "stopping $name (pid $pid, SIG$signal)"
    kill "-$signal" "$pid" 2>/dev/null || true
    wait_for "$name to exit" 60 bash -c "! kill -0 $pid 2>/dev/null" || kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

pidfile_of() { case "$1" in kafka) echo "$KAFKA_RUN/kafka.pid" ;; elasticsearch) echo "$ES_RUN/es.pid" ;; *) die "unknown engine: $1" ;; esac; }

cmd="${1:-status}"; shift || true
case "$cmd" in
  start) for e in $(engines_for "${1:-}"); do "start_$e"; done ;;
  stop) for e in $(engines_for "${1:-}"); do stop_pidfile "$e" "$(pidfile_of "$e")"; done ;;
  kill) [ -n "${1:-}" ] || die "kill needs an engine"; stop_pidfile "$1" "$(pidfile_of "$1")" KILL ;;
  status)
    rc=0
    if pid_alive "$KAFKA_RUN/kafka.pid" && kafka_healthy; then echo "kafka          up    127.0.0.1:$KAFKA_PORT"; else echo "kafka          down"; rc=1; fi
    if pid_alive "$ES_RUN/es.pid" && es_healthy; then echo "elasticsearch  up    http://127.0.0.1:$ES_PORT"; else echo "elasticsearch  down"; rc=1; fi
    exit $rc ;;
  logs)
    case "${1:-kafka}" in
      kafka) exec tail -n 50 -F "$KAFKA_RUN/logs/server.log" ;;
      elasticsearch) exec tail -n 50 -F "$ES_RUN/logs/opsreview-local.log" ;;
      *) die "unknown engine: $1" ;;
    esac ;;
  reset)
    for e in kafka elasticsearch; do stop_pidfile "$e" "$(pidfile_of "$e")"; done
    log "deleting engine data under $OPSREVIEW_HOME"
    rm -rf "$KAFKA_RUN" "$ES_RUN" ;;
  *) die "usage: stack.sh start|stop|kill|status|logs|reset [kafka|elasticsearch]" ;;
esac
