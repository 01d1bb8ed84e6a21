#!/usr/bin/env bash
# A throwaway single-node KRaft Kafka whose client listener is SASL_SSL (SCRAM-SHA-512, SCRAM-SHA-256 and
# PLAIN), from the jars the local stack already fetched. For the production-connection tests; it never
# touches the shared stack (its own directory, its own ports).
#
#   kafka-sasl-ssl.sh start DIR PORT CONTROLLER_PORT   formats DIR/data (SCRAM users at format time), starts,
#                                                      waits until the broker is up; prints its pid
#   kafka-sasl-ssl.sh stop DIR                         stops the broker DIR/kafka.pid names
#
# DIR must hold broker.pem (the broker's PKCS#8 private key and certificate, PEM) and ca.pem (the CA that
# signed it). The one client user is OPSREVIEW_SASL_USER with OPSREVIEW_SASL_PASSWORD, for every mechanism.
# Heap: OPSREVIEW_KAFKA_SASL_SSL_HEAP (256m).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

start() {
  local dir="$1" port="$2" controller_port="$3"
  local user="${OPSREVIEW_SASL_USER:?OPSREVIEW_SASL_USER is required}" password="${OPSREVIEW_SASL_PASSWORD:?OPSREVIEW_SASL_PASSWORD is required}"
  local heap="${OPSREVIEW_KAFKA_SASL_SSL_HEAP:-256m}"
  [ -f "$dir/broker.pem" ] && [ -f "$dir/ca.pem" ] || die "$dir needs broker.pem and ca.pem"
  [ -d "$KAFKA_HOME/libs" ] || die "no Kafka jars in $KAFKA_HOME/libs: run 'pnpm start' (infra/local/stack.sh start kafka) once"
  case "$user$password" in *[\"\;\ \\]*) die "the SASL user and password must not hold quotes, semicolons, spaces or backslashes (JAAS syntax)" ;; esac
  # The broker's own PLAIN login, for its inter-broker client (which, with one node, the config still needs).
  local broker_password
  broker_password="$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
  mkdir -p "$dir/data" "$dir/logs"
  cat > "$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$controller_port
listeners=SASL_SSL://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=SASL_SSL://127.0.0.1:$port
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
sasl.mechanism.inter.broker.protocol=PLAIN
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required username="broker" password="$broker_password" user_broker="$broker_password" user_$user="$password";
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$dir/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$dir/ca.pem
ssl.client.auth=none
log.dirs=$dir/data
num.partitions=3
offsets.topic.replication.factor=1
# One partition: the first consumer group then waits for one leader, not fifty.
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
  cat > "$dir/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/logs/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
PROPS
  if [ ! -f "$dir/data/meta.properties" ]; then
    local cluster_id=-
    # What StorageTool random-uuid prints (16 random bytes, base64url), without a JVM start of its own, and,
    # as it does, never starting with '-': the format tool would read `-t -…` as a missing argument (1 run in 64).
    while [ "${cluster_id#-}" != "$cluster_id" ]; do
      cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
    done
    java -Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -cp "$KAFKA_HOME/libs/*" -Dlog4j.configuration="file:$dir/log4j.properties" \
      kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" \
      --add-scram "SCRAM-SHA-512=[name=$user,password=$password]" \
      --add-scram "SCRAM-SHA-256=[name=$user,password=$password]" > "$dir/logs/format.log" 2>&1 \
      || { cat "$dir/logs/format.log" >&2; die "formatting $dir/data failed"; }
  fi
  : > "$dir/logs/server.log"
  # Serial GC and C1 only: a throwaway broker on a busy 2-core machine starts faster without G1 threads and C2.
  setsid nohup java -Xms"$heap" -Xmx"$heap" -server -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Djava.awt.headless=true -Dlog4j.configuration="file:$dir/log4j.properties" \
    -cp "$KAFKA_HOME/libs/*" kafka.Kafka "$dir/server.properties" \
    > "$dir/logs/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/kafka.pid"
  started() { grep -q 'Kafka Server started' "$dir/logs/server.log" 2>/dev/null || ! kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; }
  wait_for "SASL_SSL Kafka on :$port" 80 started || true
  if ! grep -q 'Kafka Server started' "$dir/logs/server.log" 2>/dev/null; then
    tail -30 "$dir/logs/server.log" "$dir/logs/stdout.log" >&2
    stop "$dir"
    die "the SASL_SSL broker did not start"
  fi
  cat "$dir/kafka.pid"
}

stop() {
  local dir="$1" pid
  [ -f "$dir/kafka.pid" ] || return 0
  pid="$(cat "$dir/kafka.pid")"
  # Only this directory's broker: a pid file left by a broker that died long ago may name a reused pid.
  local ours=("kafka.Kafka $dir/server.properties")
  if pid_is "$pid" "${ours[@]}"; then
    kill -TERM "$pid" 2>/dev/null || true
    # A clean shutdown takes a few seconds; a throwaway broker need not wait longer.
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    { pid_is "$pid" "${ours[@]}" && kill -KILL "$pid" 2>/dev/null; } || true
  fi
  rm -f "$dir/kafka.pid"
}

case "${1:-}" in
  start) [ $# -eq 4 ] || die "usage: kafka-sasl-ssl.sh start DIR PORT CONTROLLER_PORT"; start "$2" "$3" "$4" ;;
  stop) [ $# -eq 2 ] || die "usage: kafka-sasl-ssl.sh stop DIR"; stop "$2" ;;
  *) die "usage: kafka-sasl-ssl.sh start DIR PORT CONTROLLER_PORT | stop DIR" ;;
esac
