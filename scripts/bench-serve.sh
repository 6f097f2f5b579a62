#!/usr/bin/env bash
# Serving speed: wrk against the service and against nginx serving the very same bytes, in one
# run, cell by cell (service, nginx, nginx, service: a change in the machine's load weighs on
# both alike), at 1, 16 and 64 connections, with keep-alive and with "Connection: close", for:
#   tag        one tag
#   repo       one repository with its tags embedded and links
#   embed      /repositories?embed=true (the whole tree)
#   embedgz    the same with Accept-Encoding: gzip (nginx: gzip_static on the service's own
#              gzip bytes)
#   revalidate the whole tree with If-None-Match: each server's own ETag (304s)
# Prints a Markdown table: requests per second (and as % of nginx), p50 and p99 latency, each
# the mean of two runs; then the service's memory: RSS after loading the state (before any
# request), RSS after the run, and the peak (VmHWM).
#
#   scripts/bench-serve.sh                       # builds and measures target/release
#   BIN=/path/to/binary scripts/bench-serve.sh   # measures another build (e.g. an older one)
#
# Settings (environment): REPOS, TAGS (the generated registry, default 10000 x 10), DURATION
# (seconds per wrk run, default 5), CONNS (default "1 16 64"), WHAT (the list above), MODES
# ("keep-alive close"). Needs Debian's wrk,
# nginx-light and python3; nginx runs on a loopback port with its own config and prefix,
# never as a system service. Everything runs on 127.0.0.1 and is stopped at exit.
set -euo pipefail
cd "$(dirname "$0")/.."

REPOS=${REPOS:-10000}
TAGS=${TAGS:-10}
DURATION=${DURATION:-5}
CONNS=${CONNS:-"1 16 64"}
WHAT=${WHAT:-"tag repo embed embedgz revalidate"}
MODES=${MODES:-"keep-alive close"}
SECRET="bench-secret-0123456789abcdef-0123456789"

for tool in wrk:wrk nginx:nginx-light python3:python3; do
  if ! command -v "${tool%%:*}" >/dev/null; then
    echo "bench-serve.sh: needs ${tool%%:*} (apt-get install --no-install-recommends ${tool#*:})" >&2
    exit 1
  fi
done

if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/gitlab-registry-usage-rest
fi

tmp=$(mktemp -d)
svc_pid=""
nginx_pid=""
cleanup() {
  [ -n "$svc_pid" ] && kill "$svc_pid" 2>/dev/null || true
  [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

python3 scripts/gen-state.py "$REPOS" "$TAGS" >"$tmp/state.json"
svc_port=$(free_port)
cat >"$tmp/service.conf" <<EOF
[general]
socket_host = 127.0.0.1
socket_port = $svc_port
[ldap]
host = ldap://127.0.0.1:1
allow_insecure = true
[jwt]
secret_key = $SECRET
[registry]
registry_base_url =
state_file = $tmp/state.json
EOF
RUST_LOG=warn "$BIN" -c "$tmp/service.conf" 2>"$tmp/service.log" &
svc_pid=$!

# A token as the service issues them (HS256 over the configured secret).
token=$(SECRET="$SECRET" python3 - <<'EOF'
import base64, hashlib, hmac, json, os, time
b64 = lambda b: base64.urlsafe_b64encode(b).rstrip(b"=").decode()
now = int(time.time())
head = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
claims = b64(json.dumps({"sub": "bench", "iat": now, "nbf": now, "exp": now + 7200,
                         "jti": "bench", "type": "access", "fresh": False}).encode())
sig = hmac.new(os.environ["SECRET"].encode(), f"{head}.{claims}".encode(), hashlib.sha256).digest()
print(f"{head}.{claims}.{b64(sig)}")
EOF
)
auth="Authorization: Bearer $token"

for _ in $(seq 300); do
  curl -sf -o /dev/null -H "$auth" "http://127.0.0.1:$svc_port/repositories" && break
  sleep 0.1
done
mem() { awk -v k="$1:" '$1 == k { printf "%.1f MiB", $2 / 1024 }' "/proc/$svc_pid/status"; }
rss_loaded=$(mem VmRSS)

# The very same bytes for nginx: fetched from the service.
tag_path="/repositories/$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "group1/sub1/project-1")/tags/v1.0.7"
mkdir -p "$tmp/nginx/www" "$tmp/nginx/logs"
curl -sf -H "$auth" "http://127.0.0.1:$svc_port$tag_path" -o "$tmp/nginx/www/tag.json"
curl -sf -H "$auth" "http://127.0.0.1:$svc_port/repositories?embed=true" -o "$tmp/nginx/www/embed.json"
repo_path="/repositories/$(python3 -c 'import urllib.parse,sys; print(urllib.parse.quote(sys.argv[1], safe=""))' "group2/sub2/project-2")?embed=true&links=true"
curl -sf -H "$auth" "http://127.0.0.1:$svc_port$repo_path" -o "$tmp/nginx/www/repo.json"
# The service's own gzip bytes, for nginx's gzip_static.
curl -sf -H "$auth" -H "Accept-Encoding: gzip" "http://127.0.0.1:$svc_port/repositories?embed=true" -o "$tmp/nginx/www/embed.json.gz"
svc_etag=$(curl -sf -o /dev/null -D - -H "$auth" "http://127.0.0.1:$svc_port/repositories?embed=true" | awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }')

# nginx's workers drop root privileges: let them read the files.
chmod a+rx "$tmp" "$tmp/nginx" "$tmp/nginx/www"
chmod a+r "$tmp"/nginx/www/*
nginx_port=$(free_port)
cat >"$tmp/nginx/nginx.conf" <<EOF
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/logs/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  default_type application/hal+json;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$nginx_port;
    location = /tag { alias $tmp/nginx/www/tag.json; }
    location = /repo { alias $tmp/nginx/www/repo.json; }
    location = /embed { alias $tmp/nginx/www/embed.json; }
    location = /embedgz { alias $tmp/nginx/www/embed.json; gzip_static on; }
    location = /revalidate { alias $tmp/nginx/www/embed.json; }
  }
}
EOF
nginx -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" &
nginx_pid=$!
for _ in $(seq 50); do
  curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/tag" && break
  sleep 0.1
done
if ! cmp -s <(curl -sf "http://127.0.0.1:$nginx_port/embed") "$tmp/nginx/www/embed.json" ||
  ! cmp -s <(curl -sf -H "Accept-Encoding: gzip" "http://127.0.0.1:$nginx_port/embedgz") "$tmp/nginx/www/embed.json.gz"; then
  echo "bench-serve.sh: nginx does not serve the service's bytes (is gzip_static in this nginx?):" >&2
  cat "$tmp/nginx/logs/error.log" >&2
  exit 1
fi
nginx_etag=$(curl -sf -o /dev/null -D - "http://127.0.0.1:$nginx_port/revalidate" | awk 'tolower($1) == "etag:" { sub(/\r$/, "", $2); print $2 }')
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "$auth" -H "If-None-Match: $svc_etag" "http://127.0.0.1:$svc_port/repositories?embed=true")" = 304 ]
[ "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $nginx_etag" "http://127.0.0.1:$nginx_port/revalidate")" = 304 ]

# wrk's summary: requests/s, p50 and p99 in ms.
measure() { # url conns extra-header...
  local url=$1 conns=$2
  shift 2
  local threads=$((conns < 2 ? conns : 2))
  wrk --latency -t"$threads" -c"$conns" -d"${DURATION}s" "$@" "$url" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /^Requests\/sec:/ { rps = $2 }
    $1 == "50%" { p50 = ms($2) }
    $1 == "99%" { p99 = ms($2) }
    END { print rps, p50, p99 }'
}

# Two runs each, in the order service, nginx, nginx, service, so that a change in the machine's
# load during a cell weighs on both alike; the table shows the means.
cell() { # service-url nginx-url conns service-header nginx-header connection-header...
  local s_url=$1 n_url=$2 c=$3 s_h=$4 n_h=$5
  shift 5
  local s1 n1 n2 s2
  s1=$(measure "$s_url" "$c" -H "$auth" -H "$s_h" "$@")
  n1=$(measure "$n_url" "$c" -H "$n_h" "$@")
  n2=$(measure "$n_url" "$c" -H "$n_h" "$@")
  s2=$(measure "$s_url" "$c" -H "$auth" -H "$s_h" "$@")
  echo "$s1 $s2 $n1 $n2" | awk '{
    sr = ($1 + $4) / 2; s50 = ($2 + $5) / 2; s99 = ($3 + $6) / 2
    nr = ($7 + $10) / 2; n50 = ($8 + $11) / 2; n99 = ($9 + $12) / 2
    printf "%.0f | %.0f | %.0f %% | %.2f / %.2f ms | %.2f / %.2f ms", sr, nr, 100 * sr / (nr > 0 ? nr : 1), s50, s99, n50, n99
  }'
}

size() { stat -c %s "$tmp/nginx/www/$1"; }
human() { awk -v n="$1" 'BEGIN { if (n >= 1048576) printf "%.1f MiB", n / 1048576; else if (n >= 1024) printf "%.1f KiB", n / 1024; else printf "%d B", n }'; }
echo "service: $BIN ($("$BIN" --version)); registry $REPOS x $TAGS; 2 x ${DURATION} s per server and cell; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
echo
echo "| resource | conns | connection | service req/s | nginx req/s | service / nginx | service p50 / p99 | nginx p50 / p99 |"
echo "|---|---|---|---|---|---|---|---|"
base="http://127.0.0.1:$svc_port"
for what in $WHAT; do
  s_h="X-Bench: 1"
  n_h="X-Bench: 1"
  case $what in
    tag) svc_url="$base$tag_path"; label="one tag ($(human "$(size tag.json)"))" ;;
    repo) svc_url="$base$repo_path"; label="one repository, embed+links ($(human "$(size repo.json)"))" ;;
    embed) svc_url="$base/repositories?embed=true"; label="embed=true ($(human "$(size embed.json)"))" ;;
    embedgz)
      svc_url="$base/repositories?embed=true"; s_h="Accept-Encoding: gzip"; n_h=$s_h
      label="embed=true, gzip ($(human "$(size embed.json.gz)"))" ;;
    revalidate)
      svc_url="$base/repositories?embed=true"; s_h="If-None-Match: $svc_etag"; n_h="If-None-Match: $nginx_etag"
      label="embed=true, 304" ;;
    *) echo "bench-serve.sh: unknown WHAT $what" >&2; exit 2 ;;
  esac
  for mode in $MODES; do
    conn="Connection: keep-alive"
    [ "$mode" = close ] && conn="Connection: close"
    for c in $CONNS; do
      row=$(cell "$svc_url" "http://127.0.0.1:$nginx_port/$what" "$c" "$s_h" "$n_h" -H "$conn")
      echo "| $label | $c | $mode | $row |"
    done
  done
done
echo
echo "service memory: RSS $rss_loaded after loading the state (before any request), $(mem VmRSS) after the run, peak $(mem VmHWM)"
if ! kill -0 "$svc_pid" 2>/dev/null; then
  echo "the service died during the run:" >&2
  cat "$tmp/service.log" >&2
  exit 1
fi
