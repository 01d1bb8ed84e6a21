# Sourced: installs the Debian packages the local stack and the tests need, when they are missing.
# As root it runs apt-get; otherwise it says which command to run.
need_debian_packages() {
  local missing=()
  # The release's own JDK (17 on Debian 12, 21 on 13): Kafka 3.9 and Elasticsearch 8.19 run on either, and
  # a versioned name such as openjdk-17-jdk-headless exists in one release only.
  command -v java >/dev/null || missing+=(default-jdk-headless)
  command -v mvn >/dev/null || missing+=(maven)
  command -v npm >/dev/null || missing+=(npm)
  command -v curl >/dev/null || missing+=(curl)
  command -v unzip >/dev/null || missing+=(unzip)
  command -v setpriv >/dev/null || missing+=(util-linux)
  [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
  # promtool tests opsreview's own alert rules; prometheus runs them under `pnpm start`, and serves the review's
  # response-time tests (packages/testing/src/prometheus.ts).
  command -v promtool >/dev/null || missing+=(prometheus)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ]; then
    echo "[opsreview] missing Debian packages; run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
    return 1
  fi
  echo "[opsreview] installing Debian packages: ${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
need_debian_packages
