#!/usr/bin/env bash
# Retire one service from this host's HAProxy (the old hosts' frontends after a move): its master server slot is
# disabled in the config (under the config lock update-haproxy takes, validated with `haproxy -c`), so no reload
# brings it back, and at once in the running HAProxy (maint, and every session cut). Its frontends stay bound
# and refuse to route (fail-closed) until the host's HAProxy is taken down or its config rewritten by hand.
# A slot already disabled changes nothing (a retire run again).
# Usage: retire-haproxy-service.sh --config FILE --socket PATH --backend B
# Exit: 0 retired (or already); 2 bad arguments, a missing tool, no such backend, a config that does not validate.
set -euo pipefail

readonly LOCK_WAIT_SECONDS="${UPDATE_HAPROXY_LOCK_WAIT_SECONDS:-20}"
die() { echo "retire-haproxy-service: $*" >&2; exit 2; }
config='' socket='' backend=''
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --socket) socket="$2"; shift 2 ;;
    --backend) backend="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
for v in config socket backend; do [ -n "${!v}" ] || die "missing --${v}"; done
[[ "$backend" =~ ^[A-Za-z0-9_]+$ ]] || die "--backend '$backend' must be letters, digits and _"
[ -f "$config" ] || die "config $config not found"
command -v haproxy >/dev/null || die "haproxy is not installed"
command -v socat >/dev/null || die "socat is not installed (apt-get install socat)"
command -v flock >/dev/null || die "flock is not installed (it comes with util-linux); nothing changed"
grep -Eq "^backend ${backend}\$" "$config" || die "no backend ${backend} in ${config}; nothing changed"

umask 077
tmp="${config}.tmp.$$.retire"
trap 'rm -f "$tmp"' EXIT
exec {lock_fd}>>"${config}.lock" || die "cannot open ${config}.lock; nothing changed"
flock -w "$LOCK_WAIT_SECONDS" "$lock_fd" || die "waited ${LOCK_WAIT_SECONDS} s for ${config}.lock; nothing changed; run again"
awk -v be="$backend" '
  /^[a-z]/ { in_be = ($1 == "backend" && $2 == be) }
  in_be && $1 == "server" && $2 == "master" && $NF != "disabled" { print $0 " disabled"; next }
  { print }
' "$config" > "$tmp"
if ! cmp -s "$tmp" "$config"; then
  check="$(haproxy -c -f "$tmp" 2>&1)" || die "the config with ${backend}/master disabled does not validate: $(grep -E 'ALERT|ERROR' <<< "$check" | head -3 | tr '\n' ' '); nothing changed"
  chmod --reference="$config" "$tmp"
  chown --reference="$config" "$tmp" 2>/dev/null || true
  mv "$tmp" "$config"
  changed="disabled ${backend}/master in ${config}"
else
  changed="${backend}/master was disabled in ${config} already"
fi
flock -u "$lock_fd"
api() { echo "$1" | socat -t 2 - "UNIX-CONNECT:${socket}"; }
out="$(api "set server ${backend}/master state maint"; api "shutdown sessions server ${backend}/master")" \
  || die "${changed}, but the Runtime API ${socket} did not answer: the running haproxy still routes ${backend}; run again"
[ -z "$(tr -d '[:space:]' <<< "$out")" ] || die "${changed}, but the Runtime API answered: ${out}"
echo "${changed}; the running haproxy has ${backend}/master in maint, its sessions cut"
