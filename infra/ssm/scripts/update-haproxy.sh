#!/usr/bin/env bash
# Persist HAProxy's master routing on this host, so a reload or a restart keeps what the Runtime API set:
#   1. dump the runtime server state to the server-state file (read back by load-server-state-from-file);
#   2. rewrite the master server line of the config to the same address, validate it, and swap it in atomically.
# Usage: update-haproxy.sh --config FILE --state-file FILE --socket PATH --backend B --server S --addr IP --port P
set -euo pipefail

die() { echo "update-haproxy: $*" >&2; exit 2; }
config='' state='' socket='' backend='' server='' addr='' port='' reload='none'
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --state-file) state="$2"; shift 2 ;;
    --socket) socket="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --server) server="$2"; shift 2 ;;
    --addr) addr="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --reload) reload="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
for v in config state socket backend server addr port; do [ -n "${!v}" ] || die "missing --${v/state/state-file}"; done
[[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "--addr '$addr' is not an IP address"
[[ "$port" =~ ^[0-9]+$ ]] || die "--port '$port' is not a number"
[ -f "$config" ] || die "config $config not found"
command -v haproxy >/dev/null || die "haproxy is not installed"
command -v socat >/dev/null || die "socat is not installed (apt-get install socat)"

# 1. the runtime state, as HAProxy itself writes it
tmp_state="$(mktemp "${state}.XXXXXX")"
echo "show servers state" | socat -t 2 - "UNIX-CONNECT:${socket}" > "$tmp_state" || { rm -f "$tmp_state"; die "Runtime API ${socket} did not answer"; }
grep -q '^# be_id' "$tmp_state" || { rm -f "$tmp_state"; die "unexpected answer from ${socket}: $(head -c 200 "$tmp_state")"; }
mv "$tmp_state" "$state"

# 2. the config line `server <S> <addr>:<port> ...` inside `backend <B>`
tmp_config="$(mktemp "${config}.XXXXXX")"
awk -v be="$backend" -v srv="$server" -v target="${addr}:${port}" '
  /^[a-z]/ { in_be = ($1 == "backend" && $2 == be) }
  in_be && $1 == "server" && $2 == srv { $3 = target; found = 1; print "    " $0; next }
  { print }
  END { if (!found) exit 3 }
' "$config" > "$tmp_config" || { rm -f "$tmp_config"; die "no 'server ${server}' in backend ${backend} of ${config}"; }
haproxy -c -q -f "$tmp_config" >/dev/null 2>&1 || { rm -f "$tmp_config"; die "rendered config does not validate (haproxy -c); kept the old one"; }
chmod --reference="$config" "$tmp_config"
mv "$tmp_config" "$config"
echo "persisted ${backend}/${server} -> ${addr}:${port}"
