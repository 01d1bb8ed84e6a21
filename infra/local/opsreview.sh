#!/usr/bin/env bash
# `pnpm opsreview <command>`: operator commands: reindex, dead-letters (and dead-letters replay), replay (what-if).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
# A relative path on the command line (`replay --config mine.yaml`) is the caller's, wherever the command runs:
# `pnpm opsreview` starts this at the repository's root and says where it was called from in INIT_CWD. Only
# then: a process a pnpm script started inherits an INIT_CWD that is not its caller's directory.
if [ "${npm_lifecycle_event:-}" = opsreview ] && [ -n "${INIT_CWD:-}" ]; then
  export OPSREVIEW_CALLER_DIR="$INIT_CWD"
else
  export OPSREVIEW_CALLER_DIR="$PWD"
fi
cd "$OPSREVIEW_REPO"
# Against the local pipeline, replays authenticate with the ingest tokens `pnpm start` kept (generated or given).
if [ -z "${OPSREVIEW_INGEST_TOKENS:-}" ] && [ -r "$SERVICES_RUN/ingest-token" ]; then
  OPSREVIEW_INGEST_TOKENS="$(cat "$SERVICES_RUN/ingest-token")"
  export OPSREVIEW_INGEST_TOKENS
fi
# The stack and the pipeline `pnpm start` ran, on whatever ports they were given (as run.sh and chaos.sh
# point their services): a second stack on other ports is not the default 9092, 9200 and 8080.
export OPSREVIEW_KAFKA_BROKERS="${OPSREVIEW_KAFKA_BROKERS:-$(kafka_brokers)}"
export OPSREVIEW_ES_URL="${OPSREVIEW_ES_URL:-http://127.0.0.1:$ES_PORT}"
export OPSREVIEW_RECEIVER_URL="${OPSREVIEW_RECEIVER_URL:-http://${OPSREVIEW_RECEIVER_HOST:-127.0.0.1}:${OPSREVIEW_RECEIVER_PORT:-8080}}"
exec node --conditions=@opsreview/source services/indexer/src/cli.ts "$@"
