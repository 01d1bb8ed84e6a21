# Sourced by the other infra/local scripts: where the local stack lives and what it runs.
# Everything here is outside git: artifacts, engine data, logs and the Node 24 binary.

OPSREVIEW_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if [ "$(id -u)" = 0 ]; then
  # Elasticsearch will not run as root, and /root is private, so root keeps the stack where the
  # unprivileged engine user can read it.
  OPSREVIEW_HOME="${OPSREVIEW_HOME:-/var/lib/opsreview}"
else
  OPSREVIEW_HOME="${OPSREVIEW_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/opsreview}"
fi
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
KAFKA_HEAP="${OPSREVIEW_KAFKA_HEAP:-512m}"
ES_HEAP="${OPSREVIEW_ES_HEAP:-1g}"
ES_USER="${OPSREVIEW_ES_USER:-opsreview}"

log() { printf '[opsreview] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# wait_for DESCRIPTION SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ $SECONDS -ge $deadline ] && { log "timed out after ${secs}s waiting for $what"; return 1; }
    sleep 0.5
  done
}
