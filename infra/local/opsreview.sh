#!/usr/bin/env bash
# `pnpm opsreview <command>`: operator commands. Today: reindex.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"
exec node --conditions=@opsreview/source services/indexer/src/cli.ts "$@"
