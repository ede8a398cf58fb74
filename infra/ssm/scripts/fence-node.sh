#!/usr/bin/env bash
# Fence a Redis node on its host:
#   1. persist `replicaof <master> <port>` in redis.conf, so the node comes back read-only, as a replica of the
#      new master, whenever it restarts;
#   2. apply it live: `REPLICAOF <master> <port>` to the local redis-server on --node-port. A node that is down
#      (or does not answer within 5 s) keeps the persisted line only and comes back fenced from its config.
# The password is read from the config's `requirepass` and handed to redis-cli in REDISCLI_AUTH only: never on
# a command line, never in the output. TLS is used when --node-port is the config's `tls-port`.
# Each fence belongs to a failover epoch (--epoch), recorded in <config>.epoch. A fence of an older epoch than
# the recorded one changes nothing and exits 3: an SSM command that waited for an unreachable host and runs late
# must never demote the master a newer failover chose. Runs hold <config>.lock, one at a time.
# Usage: fence-node.sh --config /etc/redis/redis.conf --master-addr IP --master-port P --node-port P --epoch N
# Exit: 0 fenced (live, or persisted only when the node is down); 1 persisted but the live REPLICAOF was
# refused; 2 bad arguments or the config could not be written; 3 stale: an older epoch, nothing changed.
set -euo pipefail

readonly LOCK_WAIT_SECONDS=20
die() { echo "fence-node: $*" >&2; exit 2; }
config='' addr='' port='' node_port='' epoch=''
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --master-addr) addr="$2"; shift 2 ;;
    --master-port) port="$2"; shift 2 ;;
    --node-port) node_port="$2"; shift 2 ;;
    --epoch) epoch="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$config" ] || die "missing --config"
[ -n "$addr" ] || die "missing --master-addr"
[ -n "$port" ] || die "missing --master-port"
[ -n "$node_port" ] || die "missing --node-port"
[ -n "$epoch" ] || die "missing --epoch"
[[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "--master-addr '$addr' is not an IP address"
[[ "$port" =~ ^[0-9]+$ ]] || die "--master-port '$port' is not a number"
[[ "$node_port" =~ ^[0-9]+$ ]] || die "--node-port '$node_port' is not a number"
[[ "$epoch" =~ ^[0-9]{1,15}$ ]] || die "--epoch '$epoch' is not an epoch (a number)"
[ -f "$config" ] || die "config $config not found"
command -v flock >/dev/null || die "flock is not installed (it comes with util-linux); nothing changed"

# 0. one fence at a time, and never an older epoch's after a newer one's
epoch_file="${config}.epoch"
exec {lock_fd}>>"${config}.lock" || die "cannot open ${config}.lock; nothing changed"
flock -w "$LOCK_WAIT_SECONDS" "$lock_fd" \
  || die "waited ${LOCK_WAIT_SECONDS} s for ${config}.lock, which another fence-node holds; nothing changed"
recorded=0
[ ! -f "$epoch_file" ] || read -r recorded < "$epoch_file" || true
[[ "$recorded" =~ ^[0-9]{1,15}$ ]] || die "${epoch_file} holds '${recorded}', not an epoch; remove it and run again"
if ((10#$epoch < 10#$recorded)); then
  echo "stale: epoch ${epoch} is older than epoch ${recorded}, whose fence ${config} holds; nothing changed"
  exit 3
fi

# 1. persist. Drop every replicaof/slaveof line (Redis may have rewritten either), then add ours.
tmp="$(mktemp "${config}.XXXXXX")"
grep -viE '^[[:space:]]*(replicaof|slaveof)[[:space:]]' "$config" > "$tmp" || true
echo "replicaof ${addr} ${port}" >> "$tmp"
chmod --reference="$config" "$tmp"
chown --reference="$config" "$tmp" 2>/dev/null || true
mv "$tmp" "$config"
tmp="$(mktemp "${epoch_file}.XXXXXX")"
echo "$((10#$epoch))" > "$tmp" && mv "$tmp" "$epoch_file"
persisted="persisted replicaof ${addr} ${port} in ${config} (epoch ${epoch})"

# 2. apply live. The value of a directive, without the quotes redis.conf allows around it.
directive() {
  awk -v key="$1" 'tolower($1) == key { $1 = ""; sub(/^ +/, ""); value = $0 } END { print value }' "$config" \
    | sed -E 's/^"(.*)"$/\1/; s/^'"'"'(.*)'"'"'$/\1/'
}
if ! command -v redis-cli >/dev/null; then
  echo "${persisted}; not applied live: redis-cli is not installed on this host; the node is fenced at its next restart"
  exit 0
fi
# The first bind address; a wildcard bind is reached on loopback.
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

reply="$(timeout 5 "${cli[@]}" REPLICAOF "$addr" "$port" 2>&1)" && rc=0 || rc=$?
unset REDISCLI_AUTH
# Redis answers `OK Already connected to specified master` to a replica that already follows it: fenced too.
if [ "$rc" -eq 0 ] && [[ "$reply" == "OK" || "$reply" == "OK Already connected to specified master" ]]; then
  echo "${persisted}; applied live: ${host}:${node_port} is now a replica of ${addr}:${port}"
elif [ "$rc" -eq 124 ]; then
  echo "${persisted}; not applied live: ${host}:${node_port} did not answer within 5 s; the node is fenced at its next restart"
elif [[ "$reply" == *"Could not connect"* || "$reply" == *"Connection refused"* ]]; then
  echo "${persisted}; not applied live: node ${host}:${node_port} is not running; it comes back fenced from its config"
else
  echo "fence-node: ${persisted}, but the live REPLICAOF on ${host}:${node_port} failed: ${reply}" >&2
  exit 1
fi
