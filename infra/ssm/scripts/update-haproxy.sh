#!/usr/bin/env bash
# Persist HAProxy's master routing on this host and reload HAProxy without dropping connections:
#   1. rewrite the master server line of the config (`server <S> <addr>:<port>` in `backend <B>`);
#   2. validate it with `haproxy -c`; a config that does not validate changes nothing;
#   3. dump the runtime server state to the server-state file (read back by load-server-state-from-file), with
#      the server's address set to the one written: the state file's address wins over the config's at load;
#   4. swap the config in atomically;
#   5. reload as --reload says: `none`; `systemd:<unit>` (systemctl reload); `pidfile:<path>` (USR2 to the
#      master-worker master whose pid is in the file). Old workers keep serving the connections they hold;
#   6. after a reload, wait (10 s at most) until a new worker answers on the Runtime API with the server at the
#      address written.
# Usage: update-haproxy.sh --config FILE --state-file FILE --socket PATH --backend B --server S --addr IP --port P
#                          [--reload none|systemd:<unit>|pidfile:<path>]
set -euo pipefail

readonly RELOAD_WAIT_TENTHS=100
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
case "$reload" in
  none) ;;
  systemd:*) [[ "${reload#systemd:}" =~ ^[A-Za-z0-9@._-]+$ ]] || die "--reload '$reload': not a systemd unit name"
    command -v systemctl >/dev/null || die "--reload $reload: systemctl is not installed on this host" ;;
  pidfile:/*) [ -f "${reload#pidfile:}" ] || die "--reload $reload: pid file ${reload#pidfile:} not found; is haproxy running with -W -p?" ;;
  *) die "--reload '$reload' must be 'none', 'systemd:<unit>' or 'pidfile:<absolute path>'" ;;
esac
[ -f "$config" ] || die "config $config not found"
command -v haproxy >/dev/null || die "haproxy is not installed"
command -v socat >/dev/null || die "socat is not installed (apt-get install socat)"
target="${addr}:${port}"
api() { echo "$1" | socat -t 2 - "UNIX-CONNECT:${socket}"; }

# 1. the config line `server <S> <addr>:<port> ...` inside `backend <B>`
tmp_config="$(mktemp "${config}.XXXXXX")"
tmp_state=''
cleanup() { rm -f "$tmp_config"; [ -z "$tmp_state" ] || rm -f "$tmp_state" "${tmp_state}.new"; }
trap cleanup EXIT
awk -v be="$backend" -v srv="$server" -v target="$target" '
  /^[a-z]/ { in_be = ($1 == "backend" && $2 == be) }
  in_be && $1 == "server" && $2 == srv { $3 = target; found = 1; print "    " $0; next }
  { print }
  END { if (!found) exit 3 }
' "$config" > "$tmp_config" || die "no 'server ${server}' in backend ${backend} of ${config}"

# 2. validate before anything changes
if ! check="$(haproxy -c -f "$tmp_config" 2>&1)"; then
  check="${check//"$tmp_config"/"$config" (rewritten)}"
  alerts="$(grep -E 'ALERT|ERROR' <<< "$check" | head -5 | tr '\n' ' ')" || true
  die "the config with ${backend}/${server} -> ${target} does not validate (haproxy -c): ${alerts:-$check}; kept the old ${config}, nothing changed"
fi

# 3. the runtime state, as HAProxy itself writes it, with our server at the target address
old_pid="$(api 'show info' 2>/dev/null | awk -F': ' '$1 == "Pid" { print $2 }')" || true
tmp_state="$(mktemp "${state}.XXXXXX")"
api 'show servers state' > "$tmp_state" 2>/dev/null || die "Runtime API ${socket} did not answer; nothing changed"
grep -q '^# be_id' "$tmp_state" || die "unexpected answer from ${socket}: $(head -c 200 "$tmp_state"); nothing changed"
awk -v be="$backend" -v srv="$server" -v a="$addr" -v p="$port" '
  /^# be_id/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; print; next }
  NF > 4 && $(col["be_name"]) == be && $(col["srv_name"]) == srv {
    $(col["srv_addr"]) = a; if ("srv_port" in col) $(col["srv_port"]) = p
  }
  { print }
' "$tmp_state" > "${tmp_state}.new" && mv "${tmp_state}.new" "$tmp_state"
mv "$tmp_state" "$state"

# 4. swap the config in
chmod --reference="$config" "$tmp_config"
chown --reference="$config" "$tmp_config" 2>/dev/null || true
mv "$tmp_config" "$config"
persisted="persisted ${backend}/${server} -> ${target} in ${config} and ${state}"

# 5. reload
case "$reload" in
  none) echo "${persisted}; not reloaded (--reload none)"; exit 0 ;;
  systemd:*)
    unit="${reload#systemd:}"
    out="$(systemctl reload "$unit" 2>&1)" || die "${persisted}, but 'systemctl reload ${unit}' failed: ${out}" ;;
  pidfile:*)
    pidfile="${reload#pidfile:}"
    master="$(tr -d '[:space:]' < "$pidfile")"
    [[ "$master" =~ ^[0-9]+$ ]] || die "${persisted}, but ${pidfile} holds no pid ('${master}'); reload haproxy by hand"
    # USR2 would terminate any other program that recycled the pid.
    [ "$(cat "/proc/${master}/comm" 2>/dev/null)" = haproxy ] && kill -USR2 "$master" 2>/dev/null \
      || die "${persisted}, but no haproxy master runs as pid ${master} (from ${pidfile}); reload or start it by hand" ;;
esac

# 6. a new worker answers with the server at the target address
for ((i = 0; i < RELOAD_WAIT_TENTHS; i++)); do
  pid="$(api 'show info' 2>/dev/null | awk -F': ' '$1 == "Pid" { print $2 }')" || true
  if [ -n "$pid" ] && [ "$pid" != "$old_pid" ]; then
    serving="$(api "show servers state ${backend}" 2>/dev/null | awk -v srv="$server" '
      /^# be_id/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
      NF > 4 && $(col["srv_name"]) == srv { print $(col["srv_addr"]) ":" $(col["srv_port"]) }')" || true
    [ "$serving" = "$target" ] || die "${persisted}, but after the reload (${reload}) haproxy serves ${backend}/${server} at '${serving}', not ${target}"
    echo "${persisted}; reloaded (${reload}): worker ${old_pid:-?} -> ${pid}, ${backend}/${server} at ${target}"
    exit 0
  fi
  sleep 0.1
done
die "${persisted}, but after the reload (${reload}) no new haproxy worker answered on ${socket} within $((RELOAD_WAIT_TENTHS / 10)) s (still worker ${pid:-none}); check the haproxy log"
