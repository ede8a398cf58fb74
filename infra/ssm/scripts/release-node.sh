#!/usr/bin/env bash
# Lift the fast path's hold on a Redis node: the fast path persisted `replicaof 127.0.0.1 0` (replica of nothing)
# in redis.conf before asking Sentinel to fail over, so that a restart brings the node back read-only. When no
# promotion followed, this takes that line out again, so the node comes back as the master it was, with its data.
#   1. drop a `replicaof 127.0.0.1 0` line (any other replicaof line, e.g. a fence's, is left alone);
#   2. live: a running node that replicates 127.0.0.1:0 gets `REPLICAOF NO ONE` (it serves writes again).
# The password is read from the config's `requirepass` and handed to redis-cli in REDISCLI_AUTH only.
# Usage: release-node.sh --config /etc/redis/redis.conf --node-port P
# Exit: 0 released (or nothing to release); 1 the live REPLICAOF NO ONE was refused; 2 bad arguments or the
# config could not be written.
set -euo pipefail

die() { echo "release-node: $*" >&2; exit 2; }
config='' node_port=''
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --node-port) node_port="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$config" ] || die "missing --config"
[ -n "$node_port" ] || die "missing --node-port"
[[ "$node_port" =~ ^[0-9]+$ ]] || die "--node-port '$node_port' is not a number"
[ -f "$config" ] || die "config $config not found"
command -v flock >/dev/null || die "flock is not installed (it comes with util-linux); nothing changed"
# The lock fence-node takes: a fence written meanwhile is never lost to this rewrite.
exec {lock_fd}>>"${config}.lock" || die "cannot open ${config}.lock; nothing changed"
flock -w 20 "$lock_fd" || die "waited 20 s for ${config}.lock, which a fence-node holds; nothing changed"

hold='^[[:space:]]*(replicaof|slaveof)[[:space:]]+"?127\.0\.0\.1"?[[:space:]]+"?0"?[[:space:]]*$'
if grep -qiE "$hold" "$config"; then
  tmp="$(mktemp "${config}.XXXXXX")"
  grep -viE "$hold" "$config" > "$tmp" || true
  chmod --reference="$config" "$tmp"
  chown --reference="$config" "$tmp" 2>/dev/null || true
  mv "$tmp" "$config"
  released="took replicaof 127.0.0.1 0 out of ${config}"
else
  released="no hold in ${config}"
fi

directive() {
  awk -v key="$1" 'tolower($1) == key { $1 = ""; sub(/^ +/, ""); value = $0 } END { print value }' "$config" \
    | sed -E 's/^"(.*)"$/\1/; s/^'"'"'(.*)'"'"'$/\1/'
}
if ! command -v redis-cli >/dev/null; then
  echo "${released}; redis-cli is not installed on this host, nothing checked live"
  exit 0
fi
host="$(directive bind | awk '{ print $1 }')"
host="${host#-}"
case "$host" in
  '' | '*' | 0.0.0.0) host=127.0.0.1 ;;
  '::' | '::*') host=::1 ;;
esac
cli=(redis-cli -e -h "$host" -p "$node_port")
if [ "$node_port" = "$(directive tls-port)" ]; then
  cli+=(--tls)
  ca="$(directive tls-ca-cert-file)"; [ -z "$ca" ] || cli+=(--cacert "$ca")
  cert="$(directive tls-client-cert-file)"; key="$(directive tls-client-key-file)"
  [ -n "$cert" ] || { cert="$(directive tls-cert-file)"; key="$(directive tls-key-file)"; }
  [ -z "$cert" ] || [ -z "$key" ] || cli+=(--cert "$cert" --key "$key")
fi
password="$(directive requirepass)"
if [ -n "$password" ]; then export REDISCLI_AUTH="$password"; fi
unset password

info="$(timeout 5 "${cli[@]}" INFO replication 2>&1)" && rc=0 || rc=$?
if [ "$rc" -ne 0 ] || [[ "$info" != *"role:"* ]]; then
  unset REDISCLI_AUTH
  echo "${released}; ${host}:${node_port} is not running: it starts as the master it was"
  exit 0
fi
if [[ "$info" == *"master_host:127.0.0.1"* && "$info" == *"master_port:0"* ]]; then
  reply="$(timeout 5 "${cli[@]}" REPLICAOF NO ONE 2>&1)" && rc=0 || rc=$?
  unset REDISCLI_AUTH
  if [ "$rc" -eq 0 ] && [ "$reply" = "OK" ]; then
    echo "${released}; ${host}:${node_port} was held and serves as master again"
    exit 0
  fi
  echo "release-node: ${released}, but REPLICAOF NO ONE on ${host}:${node_port} failed: ${reply}" >&2
  exit 1
fi
unset REDISCLI_AUTH
echo "${released}; ${host}:${node_port} runs and was not held (left as it is)"
