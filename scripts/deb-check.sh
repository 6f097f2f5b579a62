#!/usr/bin/env bash
# Builds the Debian package, installs it on this machine, checks what it installed (binary,
# man pages, conffile owner and mode, system user, systemd unit verification and sandbox
# score), then purges it and checks that nothing is left behind.
#
# Usage: scripts/deb-check.sh            (as root, or with sudo available; Debian/Ubuntu)
#
# Idempotent: a package left installed by an earlier, interrupted run is purged first, and
# the package is purged again on any failure. Every long step runs under `timeout`.
# Needs: cargo; installs cargo-deb (cargo install --locked) and, with apt-get, the Debian
# packages adduser, man-db and systemd when their commands are missing.
set -euo pipefail

PKG=gitlab-registry-usage-rest
BIN=/usr/bin/gitlab-registry-usage-rest
CONF=/etc/gitlab_registry_usage_rest.conf
UNIT=/usr/lib/systemd/system/gitlab-registry-usage-rest.service
STATE=/var/lib/gitlab-registry-usage-rest
MAX_EXPOSURE=2.0

cd "$(dirname "$0")/.."

step() { printf '\n== %s\n' "$*"; }
fail() {
    printf 'deb-check: FAIL: %s\n' "$*" >&2
    exit 1
}

if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo -n)
else
    fail "run as root (dpkg -i needs it), or install sudo"
fi
as_root() { "${SUDO[@]}" "$@"; }

purge() {
    if dpkg-query -W -f='${Status}' "$PKG" 2>/dev/null | grep -q 'installed\|config-files'; then
        as_root timeout 120 dpkg --purge "$PKG" >/dev/null
    fi
}

step "tools"
missing=()
command -v adduser >/dev/null 2>&1 || missing+=(adduser)
command -v man >/dev/null 2>&1 || missing+=(man-db)
command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)
if [ ${#missing[@]} -gt 0 ]; then
    command -v apt-get >/dev/null 2>&1 || fail "missing ${missing[*]} and no apt-get"
    as_root timeout 300 apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive timeout 600 \
        apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if ! cargo deb --version >/dev/null 2>&1; then
    timeout 1200 cargo install cargo-deb --locked
fi
cargo deb --version

step "build the package"
purge
timeout 1800 cargo deb --output target/debian/ >/dev/null
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1)
DEB=$(ls -t target/debian/${PKG}_"${VERSION}"-*_*.deb | head -n1)
[ -f "$DEB" ] || fail "no .deb for version $VERSION in target/debian/"
echo "$DEB"

trap 'purge' EXIT

step "install"
# --path-include: minimal images exclude man pages via dpkg.cfg.d; ours must be installed.
as_root env DEBIAN_FRONTEND=noninteractive timeout 120 dpkg \
    --path-include='/usr/share/man/man1/gitlab-registry-usage-rest.1.gz' \
    --path-include='/usr/share/man/man5/gitlab_registry_usage_rest.conf.5.gz' \
    -i "$DEB"

step "binary"
got=$("$BIN" --version)
[ "$got" = "gitlab-registry-usage-rest, version $VERSION" ] || fail "--version printed: $got"
echo "$got"

step "man pages"
for page in "1 gitlab-registry-usage-rest" "5 gitlab_registry_usage_rest.conf"; do
    # shellcheck disable=SC2086 # section and name are two words on purpose
    path=$(man -w $page) || fail "man -w $page found nothing"
    case "$path" in
        /usr/share/man/man*/*.gz) echo "$path" ;;
        *) fail "man -w $page gave $path, expected a gzip'd page in /usr/share/man" ;;
    esac
done

step "system user and conffile"
getent passwd "$PKG" >/dev/null || fail "no system user $PKG"
getent group "$PKG" >/dev/null || fail "no system group $PKG"
home=$(getent passwd "$PKG" | cut -d: -f6)
[ "$home" = "$STATE" ] || fail "home of $PKG is $home, expected $STATE"
uid=$(id -u "$PKG")
[ "$uid" -lt 1000 ] || fail "$PKG has uid $uid: not a system user"
perms=$(stat -c '%a %U:%G' "$CONF")
[ "$perms" = "640 root:$PKG" ] || fail "$CONF is $perms, expected 640 root:$PKG"
echo "$CONF: $perms"
dpkg-query -W -f='${Conffiles}\n' "$PKG" | grep -q " $CONF " || fail "$CONF is not a conffile"
as_root runuser -u "$PKG" -- test -r "$CONF" || fail "$PKG cannot read $CONF"
if as_root runuser -u nobody -- test -r "$CONF"; then fail "nobody can read $CONF"; fi
cmp -s "$CONF" packaging/gitlab_registry_usage_rest.conf || fail "$CONF differs from the packaged default"

step "systemd unit"
out=$(timeout 60 systemd-analyze verify "$UNIT" 2>&1) || fail "systemd-analyze verify failed: $out"
[ -z "$out" ] || fail "systemd-analyze verify printed: $out"
echo "verify: no output"
report=$(timeout 60 systemd-analyze security --offline=true "$UNIT" 2>&1) || true
score=$(printf '%s\n' "$report" | sed -n 's/.*Overall exposure level for .*: \([0-9.]*\) .*/\1/p')
[ -n "$score" ] || fail "no exposure level in: $report"
awk -v s="$score" -v m="$MAX_EXPOSURE" 'BEGIN { exit !(s <= m) }' ||
    fail "exposure level $score is above $MAX_EXPOSURE"
echo "security: exposure level $score (at most $MAX_EXPOSURE)"

step "reinstall (the upgrade path of the maintainer scripts)"
as_root env DEBIAN_FRONTEND=noninteractive timeout 120 dpkg -i "$DEB" >/dev/null
perms=$(stat -c '%a %U:%G' "$CONF")
[ "$perms" = "640 root:$PKG" ] || fail "after reinstall $CONF is $perms"
echo "$CONF: $perms"

step "purge"
# What the service leaves after running: its state directory (made by StateDirectory=).
as_root install -d -o "$PKG" -g "$PKG" -m 0750 "$STATE"
as_root touch "$STATE/state.json"
trap - EXIT
as_root timeout 120 dpkg --purge "$PKG"
for f in "$BIN" "$CONF" "$UNIT" "$STATE" \
    /usr/share/man/man1/gitlab-registry-usage-rest.1.gz \
    /usr/share/man/man5/gitlab_registry_usage_rest.conf.5.gz; do
    [ ! -e "$f" ] || fail "$f is still there after purge"
done
if getent passwd "$PKG" >/dev/null; then fail "user $PKG is still there after purge"; fi
if getent group "$PKG" >/dev/null; then fail "group $PKG is still there after purge"; fi
if dpkg-query -W "$PKG" >/dev/null 2>&1; then fail "dpkg still knows $PKG after purge"; fi
echo "nothing left"

printf '\ndeb-check: OK (%s)\n' "$DEB"
