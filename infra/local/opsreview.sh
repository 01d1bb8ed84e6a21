#!/usr/bin/env bash
# `pnpm opsreview <command>`: operator commands: reindex, dead-letters (and dead-letters replay), replay (what-if).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"
# Against the local pipeline, replays authenticate with the ingest token `pnpm start` generated.
if [ -z "${OPSREVIEW_INGEST_TOKENS:-}" ] && [ -r "$SERVICES_RUN/ingest-token" ]; then
  OPSREVIEW_INGEST_TOKENS="$(cat "$SERVICES_RUN/ingest-token")"
  export OPSREVIEW_INGEST_TOKENS
fi
exec node --conditions=@opsreview/source services/indexer/src/cli.ts "$@"
