#!/usr/bin/env bash
# pnpm chaos [flags]: a fault run on the local stack (see docs/chaos.md). The stack is the one
# OPSREVIEW_HOME and the OPSREVIEW_*_PORT variables name, as for stack.sh; it is started if it is down.
# It SIGKILLs the broker and SIGSTOPs Elasticsearch of that stack: point it at a stack of your own when
# others use the default one.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"
case " $* " in *" --help "*|*" -h "*) exec node --conditions=@opsreview/source test/e2e/src/chaos/main.ts --help ;; esac
bash infra/local/stack.sh start
export OPSREVIEW_KAFKA_BROKERS="127.0.0.1:$KAFKA_PORT"
export OPSREVIEW_ES_URL="http://127.0.0.1:$ES_PORT"
exec node --conditions=@opsreview/source test/e2e/src/chaos/main.ts "$@"
