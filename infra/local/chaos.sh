#!/usr/bin/env bash
# pnpm chaos [flags]: a fault run on the local stack (see docs/chaos.md). The stack is the one
# OPSREVIEW_HOME and the OPSREVIEW_*_PORT variables name, as for stack.sh; it is started if it is down.
# It SIGKILLs the broker and SIGSTOPs Elasticsearch of that stack: point it at a stack of your own when
# others use the default one. --cluster (or OPSREVIEW_CHAOS_CLUSTER=1) runs on that stack's three-node
# Kafka cluster (OPSREVIEW_KAFKA_NODES=3, docs/cluster.md) with two instances of each service.
set -euo pipefail
case " $* " in *" --cluster "*) export OPSREVIEW_CHAOS_CLUSTER=1 ;; esac
if [ "${OPSREVIEW_CHAOS_CLUSTER:-}" = 1 ] && [ "${OPSREVIEW_KAFKA_NODES:-1}" -lt 3 ]; then export OPSREVIEW_KAFKA_NODES=3; fi
# The run drives a real Alertmanager: on a fresh machine its package is installed first, as for run.sh, and
# before the bootstrap, which needs npm to install Node 24 (after it, a machine without npm stopped there).
source "$(dirname "${BASH_SOURCE[0]}")/system-deps.sh"
source "$(dirname "${BASH_SOURCE[0]}")/bootstrap.sh"
cd "$OPSREVIEW_REPO"
case " $* " in *" --help "*|*" -h "*) exec node --conditions=@opsreview/source test/e2e/src/chaos/main.ts --help ;; esac
bash infra/local/stack.sh start
# Every node of the stack's Kafka: the run's services bootstrap from all of them, as production would.
OPSREVIEW_KAFKA_BROKERS="$(kafka_brokers)"
export OPSREVIEW_KAFKA_BROKERS
export OPSREVIEW_ES_URL="http://127.0.0.1:$ES_PORT"
exec node --conditions=@opsreview/source test/e2e/src/chaos/main.ts "$@"
