#!/usr/bin/env bash
# Persist HAProxy's master routing on this host and reload HAProxy without dropping connections. One HAProxy may
# serve many backends, and a host failure persists all of them at once: concurrent runs for different backends
# serialize their writes on a lock, and share reloads.
# Under the config lock (<config>.lock), one run at a time:
#   1. rewrite the master server line of the config (`server <S> <addr>:<port>` in `backend <B>`);
#   2. validate it with `haproxy -c`; a config that does not validate changes nothing;
#   3. dump the runtime server state to the server-state file (read back by load-server-state-from-file), with
#      every persisted address that the running HAProxy does not serve yet (<config>.pending, ours included) laid
#      over it: the state file's address wins over the config's at load, so no reload may bring an old one back;
#   4. swap the config in atomically; a change bumps the generation (<config>.generation). `none` stops here.
# Under the reload lock (<config>.reload.lock), one reload at a time, for every change made before it:
#   5. if the generation reloaded last (<config>.reloaded) holds our change, another run's reload carried it: go
#      to 6. Else, holding the config lock again until the new worker runs, re-dump the state file as in 3, then
#      reload as --reload says: `systemd:<unit>` (systemctl reload) or `pidfile:<path>` (USR2 to the
#      master-worker master whose pid is in the file). Old workers keep serving the connections they hold;
#   6. check that a worker serves our server at the address written; after our own reload, first wait (10 s at
#      most) until a new worker answers on the Runtime API, then record the generation it loaded.
# A run whose server the running HAProxy already serves at the address reloads nothing: the files now match it
# (after the orchestrator's runtime reroute, the usual case; "nothing changed" when the config did already).
# Each routing belongs to a failover epoch (--epoch), recorded per backend and server in <config>.epochs under the
# config lock. A run of an older epoch than the recorded one changes nothing and exits 3 (stale): an SSM command
# that waited for an unreachable host and runs late must never roll the routing back.
# Needs haproxy, socat and flock (util-linux). All lock waits of a run together last at most
# UPDATE_HAPROXY_LOCK_WAIT_SECONDS (default 20); then it exits 2, saying which lock and whether anything changed.
# Usage: update-haproxy.sh --config FILE --state-file FILE --socket PATH --backend B --server S --addr IP --port P
#                          --epoch N [--reload none|systemd:<unit>|pidfile:<path>]
# Exit: 0 persisted (and served, unless --reload none); 2 bad arguments, a missing tool, a config that does not
# validate, a lock wait that timed out, or a reload that failed (the message says what was persisted); 3 stale:
# an older epoch than the one recorded for the server, nothing changed.
set -euo pipefail

readonly RELOAD_WAIT_TENTHS=100
readonly LOCK_WAIT_SECONDS="${UPDATE_HAPROXY_LOCK_WAIT_SECONDS:-20}"
die() { echo "update-haproxy: $*" >&2; exit 2; }
config='' state='' socket='' backend='' server='' addr='' port='' reload='none' epoch=''
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
    --epoch) epoch="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
for v in config state socket backend server addr port epoch; do [ -n "${!v}" ] || die "missing --${v/state/state-file}"; done
[[ "$addr" =~ ^[0-9a-fA-F.:]+$ ]] || die "--addr '$addr' is not an IP address"
[[ "$port" =~ ^[0-9]+$ ]] || die "--port '$port' is not a number"
[[ "$epoch" =~ ^[0-9]{1,15}$ ]] || die "--epoch '$epoch' is not an epoch (a number)"
epoch=$((10#$epoch))
[[ "$LOCK_WAIT_SECONDS" =~ ^[0-9]+$ ]] || die "UPDATE_HAPROXY_LOCK_WAIT_SECONDS '$LOCK_WAIT_SECONDS' is not a number of seconds"
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
command -v flock >/dev/null || die "flock is not installed (it comes with util-linux: apt-get install util-linux); nothing changed"
target="${addr}:${port}"
api() { echo "$1" | socat -t 2 - "UNIX-CONNECT:${socket}"; }
worker_pid() { api 'show info' 2>/dev/null | awk -F': ' '$1 == "Pid" { print $2 }' || true; }
# Where the running HAProxy sends our server: `<addr>:<port>`, or nothing.
serving() {
  api "show servers state ${backend}" 2>/dev/null | awk -v srv="$server" '
    /^# be_id/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
    NF > 4 && $(col["srv_name"]) == srv { print $(col["srv_addr"]) ":" $(col["srv_port"]) }' || true
}
# The same, asked again for a second at most while there is no answer: another run may be reloading.
serving_soon() {
  local at='' tries
  for ((tries = 0; tries < 10; tries++)); do at="$(serving)"; [ -z "$at" ] || break; sleep 0.1; done
  echo "$at"
}

lock_file="${config}.lock"
reload_lock_file="${config}.reload.lock"
generation_file="${config}.generation"
reloaded_file="${config}.reloaded"
pending_file="${config}.pending"
epochs_file="${config}.epochs"
lock_deadline=$((SECONDS + LOCK_WAIT_SECONDS))
# lock FD MESSAGE: take the lock open on FD within what is left of the wait budget, or die with MESSAGE.
lock() {
  local left=$((lock_deadline - SECONDS))
  ((left > 0)) || left=0
  flock -w "$left" "$1" || die "$2"
}
# read_count VAR FILE: the count in FILE (0 when absent) into VAR.
read_count() {
  local n=0
  [ ! -f "$2" ] || read -r n < "$2" || true
  [[ "$n" =~ ^[0-9]+$ ]] || die "$2 holds '${n}', not a count; remove it (and ${generation_file}, ${reloaded_file}) and run again"
  printf -v "$1" '%s' "$n"
}

# Temporary files are beside the file they replace (so that mv is atomic), private, and removed at exit.
umask 077
temps=()
cleanup() { [ ${#temps[@]} -eq 0 ] || rm -f "${temps[@]}"; }
trap cleanup EXIT
# new_temp VAR FILE: the name of a new temporary file for FILE into VAR.
new_temp() { local new="${2}.tmp.$$.${#temps[@]}"; temps+=("$new"); printf -v "$1" '%s' "$new"; }
# write_count FILE N: atomically, so a crash never leaves a half-written count.
write_count() { local t; new_temp t "$1"; echo "$2" > "$t" && mv "$t" "$1"; }

# Step 3, with the config lock held: the runtime state, as HAProxy itself writes it, with every address of the
# pending list (and ours, when given as `<backend> <server> <addr> <port>`) laid over it. The pending list then
# keeps only the servers that the running HAProxy has at another address (one it lacks loads the config's address
# at the next reload). Sets own_served to 1 when the running HAProxy already serves ours there.
# Returns non-zero, changing nothing, when the Runtime API does not answer.
write_state_file() {
  local dump state_new pending_new pending_in=/dev/null rc=0
  [ ! -f "$pending_file" ] || pending_in="$pending_file"
  new_temp dump "$state"; new_temp state_new "$state"; new_temp pending_new "$pending_file"
  api 'show servers state' > "$dump" 2>/dev/null || return 3
  grep -q '^# be_id' "$dump" || return 4
  awk -v own="${1:-}" -v pending_out="$pending_new" '
    function want_at(key, at) { if (!(key in want)) order[++n] = key; want[key] = at }
    FILENAME == ARGV[1] { if (NF == 4 && ($1 " " $2 " ") != substr(own, 1, length($1 " " $2 " "))) want_at($1 " " $2, $3 " " $4); next }
    !own_added { own_added = 1; if (split(own, o, " ") == 4) { own_key = o[1] " " o[2]; want_at(own_key, o[3] " " o[4]) } }
    /^# be_id/ { for (i = 2; i <= NF; i++) col[$i] = i - 1; print; next }
    NF > 4 && (($(col["be_name"]) " " $(col["srv_name"])) in want) {
      key = $(col["be_name"]) " " $(col["srv_name"]); split(want[key], w, " "); seen[key] = 1
      if ($(col["srv_addr"]) == w[1] && (!("srv_port" in col) || $(col["srv_port"]) == w[2])) served[key] = 1
      else { $(col["srv_addr"]) = w[1]; if ("srv_port" in col) $(col["srv_port"]) = w[2] }
    }
    { print }
    END {
      printf "" > pending_out
      for (i = 1; i <= n; i++) if ((order[i] in seen) && !(order[i] in served)) print order[i], want[order[i]] > pending_out
      if (own_key != "" && !(own_key in served)) exit 10
    }
  ' "$pending_in" "$dump" > "$state_new" || rc=$?
  ((rc == 0 || rc == 10)) || return 5
  own_served=$((rc == 0))
  mv "$state_new" "$state" && mv "$pending_new" "$pending_file" || return 6
}

# A HAProxy that does not answer (its host just failed) fails here, before it waits for the lock or validates;
# asked 3 times, 0.1 s apart, since a reload can leave the socket unanswered for a moment.
answers=''
for ((tries = 0; tries < 3; tries++)); do answers="$(worker_pid)"; [ -z "$answers" ] || break; sleep 0.1; done
[ -n "$answers" ] || die "Runtime API ${socket} did not answer; nothing changed"

# Before a reload, with the config lock held: every backend server line of the config at the address the state
# file (just dumped, pending laid over) gives it. At load HAProxy takes a server's address from the config and
# only its port from the state file, so a server the orchestrator moved at runtime (another service on this
# HAProxy, a reconcile's repair) whose config line is older would come back at its old host. Validated first.
config_follows_state() {
  local synced check
  new_temp synced "$config"
  awk '
    FILENAME == ARGV[1] {
      if ($0 ~ /^# be_id/) { for (i = 2; i <= NF; i++) col[$i] = i - 1; next }
      if (NF > 4 && ("srv_port" in col) && $(col["srv_addr"]) ~ /^[0-9a-fA-F.:]+$/ && $(col["srv_port"]) > 0)
        at[$(col["be_name"]) " " $(col["srv_name"])] = $(col["srv_addr"]) ":" $(col["srv_port"])
      next
    }
    /^[a-z]/ { be = ($1 == "backend") ? $2 : "" }
    be != "" && $1 == "server" && ((be " " $2) in at) && $3 != at[be " " $2] { $3 = at[be " " $2]; print "    " $0; next }
    { print }
  ' "$state" "$config" > "$synced" || return 1
  cmp -s "$synced" "$config" && return 0
  check="$(haproxy -c -f "$synced" 2>&1)" || return 1
  chmod --reference="$config" "$synced"
  chown --reference="$config" "$synced" 2>/dev/null || true
  mv "$synced" "$config"
}

# 1-4 under the config lock
exec {config_fd}>>"$lock_file" || die "cannot open ${lock_file}; nothing changed"
lock "$config_fd" "waited ${LOCK_WAIT_SECONDS} s for ${lock_file}, which another update-haproxy holds; nothing changed; run again"

# 0. never an older epoch's routing after a newer one's: the epoch recorded for our server (0: none yet)
recorded="$(awk -v be="$backend" -v srv="$server" '$1 == be && $2 == srv { e = $3 } END { print e + 0 }' \
  "$([ -f "$epochs_file" ] && echo "$epochs_file" || echo /dev/null)")"
if ((epoch < recorded)); then
  flock -u "$config_fd"
  echo "stale: epoch ${epoch} is older than epoch ${recorded}, whose routing of ${backend}/${server} ${config} holds; nothing changed"
  exit 3
fi

# 1. the config line `server <S> <addr>:<port> ...` inside `backend <B>`
new_temp tmp_config "$config"
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

# 3. the state file; our address stays pending until the running HAProxy serves it
config_changed=1
cmp -s "$tmp_config" "$config" && config_changed=0
write_state_file "${backend} ${server} ${addr} ${port}" || die "Runtime API ${socket} did not answer 'show servers state' as expected; kept the old ${config}, nothing changed"

# 4. swap the config in, and count the change
if ((config_changed)); then
  chmod --reference="$config" "$tmp_config"
  chown --reference="$config" "$tmp_config" 2>/dev/null || true
  mv "$tmp_config" "$config"
fi
# and the epoch of our server's routing
new_temp epochs_new "$epochs_file"
{ [ ! -f "$epochs_file" ] || awk -v be="$backend" -v srv="$server" '!($1 == be && $2 == srv)' "$epochs_file"
  echo "${backend} ${server} ${epoch}"; } > "$epochs_new" && mv "$epochs_new" "$epochs_file" \
  || die "persisted ${backend}/${server} -> ${target} in ${config}, but could not record epoch ${epoch} in ${epochs_file}; run again"
read_count applied "$generation_file"
read_count reloaded "$reloaded_file"
mine=0
# A server the running HAProxy already serves at the address (the orchestrator reroutes it at runtime first) needs
# no reload: the config and the state file now say what it does, for the next reload or restart. So a failover's
# persists reload nothing, and no reload can race another service's reroute on a shared HAProxy.
if ((!own_served)); then
  # Never at or below the reloaded count, so that a lost generation file cannot pass our change off as reloaded.
  mine=$(( (applied > reloaded ? applied : reloaded) + 1 ))
  write_count "$generation_file" "$mine"
fi
flock -u "$config_fd"
persisted="persisted ${backend}/${server} -> ${target} (epoch ${epoch}) in ${config} and ${state}"

if ((mine == 0)); then
  if ((config_changed)); then
    echo "${persisted}; the running haproxy already serves ${backend}/${server} at ${target}: not reloaded"
  else
    echo "nothing changed: ${config} and the running haproxy already have ${backend}/${server} at ${target} (state file ${state} refreshed); not reloaded"
  fi
  exit 0
fi
if [ "$reload" = none ]; then
  echo "${persisted}; not reloaded (--reload none)"
  exit 0
fi

# 5. one reload at a time; skip it when another persist's reload already carried our change
exec {reload_fd}>>"$reload_lock_file" || die "${persisted}, but cannot open ${reload_lock_file}; not reloaded"
lock "$reload_fd" "${persisted}, but waited ${LOCK_WAIT_SECONDS} s for ${reload_lock_file}, which another update-haproxy holds (reloading); not reloaded: run again"
read_count reloaded "$reloaded_file"
if ((reloaded >= mine)); then
  flock -u "$reload_fd"
  now="$(serving_soon)"
  [ "$now" = "$target" ] || die "${persisted}; reload carried by another persist (generation ${reloaded} >= ${mine}), but haproxy serves ${backend}/${server} at '${now}', not ${target}"
  echo "${persisted}; reload carried by another persist (generation ${reloaded} >= ${mine}): worker $(worker_pid), ${backend}/${server} at ${target}"
  exit 0
fi

lock "$config_fd" "${persisted}, but waited ${LOCK_WAIT_SECONDS} s for ${lock_file} to reload; not reloaded: run again"
read_count generation "$generation_file"
old_pid="$(worker_pid)"
write_state_file || die "${persisted}, but Runtime API ${socket} did not answer 'show servers state' before the reload; not reloaded: run again"
config_follows_state || die "${persisted}, but the config with every server at its runtime address does not validate (haproxy -c); not reloaded: run again"
case "$reload" in
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
  pid="$(worker_pid)"
  if [ -n "$pid" ] && [ "$pid" != "$old_pid" ]; then
    now="$(serving)"
    [ "$now" = "$target" ] || die "${persisted}, but after the reload (${reload}) haproxy serves ${backend}/${server} at '${now}', not ${target}"
    # The new worker loaded every pending address: none stays pending, to be laid over a later reroute.
    new_temp no_pending "$pending_file"
    : > "$no_pending" && mv "$no_pending" "$pending_file"
    write_count "$reloaded_file" "$generation"
    echo "${persisted}; reloaded (${reload}): worker ${old_pid:-?} -> ${pid}, ${backend}/${server} at ${target}; the reload carries $((generation - reloaded)) persisted change(s)"
    exit 0
  fi
  sleep 0.1
done
die "${persisted}, but after the reload (${reload}) no new haproxy worker answered on ${socket} within $((RELOAD_WAIT_TENTHS / 10)) s (still worker ${pid:-none}); check the haproxy log"
