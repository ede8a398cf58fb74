#!/usr/bin/env bash
# Give this host's HAProxy one more service (a move brings a service to this host): a plain and a TLS frontend and
# a fail-closed backend with one `master` server slot, appended to the config under its lock (<config>.lock, the
# one update-haproxy takes), validated with `haproxy -c` first. It does not reload: update-haproxy, run next for
# the new backend with the master's address and the failover epoch, finds the running HAProxy without it and
# reloads (sharing the reload with other persists, and recording the epoch).
# A config that has the backend already with the same frontends changes nothing (a move run again); one that has
# it with other ports, or another service's frontend on one of the ports, is refused.
# Usage: add-haproxy-service.sh --config FILE --backend B --bind IP --plain-port P --tls-port T --pem FILE
#                               --addr IP --port P
# Exit: 0 added (or there already); 2 bad arguments, a missing tool, a conflict, a config that does not validate.
set -euo pipefail

readonly LOCK_WAIT_SECONDS="${UPDATE_HAPROXY_LOCK_WAIT_SECONDS:-20}"
die() { echo "add-haproxy-service: $*" >&2; exit 2; }
config='' backend='' bind='' plain='' tls='' pem='' addr='' port=''
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    --bind) bind="$2"; shift 2 ;;
    --plain-port) plain="$2"; shift 2 ;;
    --tls-port) tls="$2"; shift 2 ;;
    --pem) pem="$2"; shift 2 ;;
    --addr) addr="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
for v in config backend bind plain tls pem addr port; do [ -n "${!v}" ] || die "missing --${v/plain/plain-port}"; done
[[ "$backend" =~ ^[A-Za-z0-9_]+$ ]] || die "--backend '$backend' must be letters, digits and _"
[[ "$bind" =~ ^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--bind '$bind' is not an IPv4 address (an IPv6 bind is not supported here)"
[[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "--addr '$addr' is not an IP address"
[[ "$pem" =~ ^/[A-Za-z0-9._/@+-]+$ ]] || die "--pem '$pem' must be an absolute path of letters, digits and ._/@+-"
for v in plain tls port; do [[ "${!v}" =~ ^[0-9]+$ ]] || die "--${v/plain/plain-port} '${!v}' is not a number"; done
[ -f "$config" ] || die "config $config not found"
[ -f "$pem" ] || die "certificate $pem not found"
command -v haproxy >/dev/null || die "haproxy is not installed"
command -v flock >/dev/null || die "flock is not installed (it comes with util-linux); nothing changed"

umask 077
tmp="${config}.tmp.$$.add"
trap 'rm -f "$tmp"' EXIT
exec {lock_fd}>>"${config}.lock" || die "cannot open ${config}.lock; nothing changed"
flock -w "$LOCK_WAIT_SECONDS" "$lock_fd" || die "waited ${LOCK_WAIT_SECONDS} s for ${config}.lock; nothing changed; run again"

# What the config binds now, per frontend: `<frontend> <addr:port>`.
binds="$(awk '/^[a-z]/ { fe = ($1 == "frontend" || $1 == "listen") ? $2 : "" } fe != "" && $1 == "bind" { print fe, $2 }' "$config")"
want_plain="${bind}:${plain}" want_tls="${bind}:${tls}"
if grep -Eq "^backend ${backend}\$" "$config"; then
  grep -qx "${backend}_plain ${want_plain}" <<< "$binds" && grep -qx "${backend}_tls ${want_tls}" <<< "$binds" \
    || die "${config} has backend ${backend} already, with other frontends than ${want_plain} and ${want_tls}; nothing changed"
  echo "nothing changed: ${config} serves ${backend} on ${want_plain} and ${want_tls} already"
  exit 0
fi
for at in "$want_plain" "$want_tls"; do
  taken="$(awk -v at="$at" '$2 == at { print $1 }' <<< "$binds")"
  [ -z "$taken" ] || die "${at} is bound by frontend ${taken} in ${config}; nothing changed"
done
{ cat "$config"
  printf '\nfrontend %s_plain\n    bind %s\n    default_backend %s\n\n' "$backend" "$want_plain" "$backend"
  printf 'frontend %s_tls\n    bind %s ssl crt %s\n    default_backend %s\n\n' "$backend" "$want_tls" "$pem" "$backend"
  printf 'backend %s\n    server master %s:%s\n' "$backend" "$addr" "$port"
} > "$tmp"
if ! check="$(haproxy -c -f "$tmp" 2>&1)"; then
  die "the config with ${backend} added does not validate (haproxy -c): $(grep -E 'ALERT|ERROR' <<< "$check" | head -3 | tr '\n' ' '); nothing changed"
fi
chmod --reference="$config" "$tmp"
chown --reference="$config" "$tmp" 2>/dev/null || true
mv "$tmp" "$config"
echo "added ${backend}: ${want_plain}, ${want_tls} (TLS) -> ${addr}:${port} in ${config}; not reloaded yet"
