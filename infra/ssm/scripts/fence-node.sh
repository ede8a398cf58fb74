#!/usr/bin/env bash
# Fence a Redis node in its config: persist `replicaof <master> <port>`, so that the node comes back
# read-only, as a replica of the new master, whenever it restarts. It does not touch a running process;
# the orchestrator sends REPLICAOF live when the node answers.
# Usage: fence-node.sh --config /etc/redis/redis.conf --master-addr IP --master-port P
set -euo pipefail

die() { echo "fence-node: $*" >&2; exit 2; }
config='' addr='' port=''
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --master-addr) addr="$2"; shift 2 ;;
    --master-port) port="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$config" ] || die "missing --config"
[ -n "$addr" ] || die "missing --master-addr"
[ -n "$port" ] || die "missing --master-port"
[[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "--master-addr '$addr' is not an IP address"
[[ "$port" =~ ^[0-9]+$ ]] || die "--master-port '$port' is not a number"
[ -f "$config" ] || die "config $config not found"

tmp="$(mktemp "${config}.XXXXXX")"
# Drop every replicaof/slaveof line (Redis may have rewritten either), then add ours.
grep -viE '^[[:space:]]*(replicaof|slaveof)[[:space:]]' "$config" > "$tmp" || true
echo "replicaof ${addr} ${port}" >> "$tmp"
chmod --reference="$config" "$tmp"
mv "$tmp" "$config"
echo "fenced ${config}: replicaof ${addr} ${port}"
