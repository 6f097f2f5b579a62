#!/usr/bin/env bash
# The project's test command: installs what the tests need on a fresh Debian machine (real
# OpenLDAP slapd, Docker Distribution registry, Prometheus (promtool and a server the metrics
# test starts on loopback), man-page and systemd linters, moto's S3 server in a venv, headless
# Chromium and the browser tests' node driver, Rust components), then runs the format check,
# clippy and the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

# package:file-it-provides
wanted="slapd:/usr/sbin/slapd ldap-utils:/usr/bin/ldapsearch docker-registry:/usr/bin/docker-registry
openssl:/usr/bin/openssl mandoc:/usr/bin/mandoc man-db:/usr/bin/man systemd:/usr/bin/systemd-analyze
ca-certificates:/etc/ssl/certs/ca-certificates.crt adduser:/usr/sbin/adduser
prometheus:/usr/bin/promtool chromium:/usr/bin/chromium nodejs:/usr/bin/node"
missing=()
updated=""
for pair in $wanted; do
  [ -e "${pair#*:}" ] || missing+=("${pair%%:*}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "test.sh: installing ${missing[*]}"
  $SUDO apt-get update -q
  updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
  # The package starts a system-wide Prometheus on :9090 where systemd runs; the tests start
  # their own on loopback, so stop the one this script just installed.
  if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now prometheus.service || true
  fi
fi

# npm comes inside NodeSource's nodejs, and is a package of its own in Debian's.
if ! command -v npm >/dev/null; then
  [ -n "$updated" ] || $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends npm
fi
# The dashboard's browser test drives /usr/bin/chromium with playwright-core (pinned in
# tests/browser/package-lock.json; it downloads no browser of its own).
lock=tests/browser/package-lock.json
if [ ! -f tests/browser/node_modules/.package-lock.json ] \
   || [ "$lock" -nt tests/browser/node_modules/.package-lock.json ]; then
  (cd tests/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
fi

# The S3 tests' bucket: moto's S3 server (PyPI `moto[server]`) in a venv kept in the user's
# cache, so a second run only checks that it is there. tests/support/s3.rs looks in the same
# place (or in $MOTO_VENV).
moto_venv="${MOTO_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gitlab-registry-usage-rest/moto-venv}"
if [ ! -x "$moto_venv/bin/moto_server" ]; then
  if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
    [ -n "$updated" ] || $SUDO apt-get update -q
    updated=1
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends python3-venv
  fi
  echo "test.sh: installing moto[server] into $moto_venv"
  rm -rf "$moto_venv"
  python3 -m venv "$moto_venv"
  "$moto_venv/bin/pip" install -q 'moto[server]' boto3
fi

for comp in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^$comp"; then
    rustup component add "$comp"
  fi
done

cargo fmt --all -- --check
cargo clippy --all-targets -- -D warnings
cargo test
