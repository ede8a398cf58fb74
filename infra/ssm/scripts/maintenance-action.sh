#!/usr/bin/env bash
# Run one allow-listed maintenance action on a Redis node of this host:
#   restart  stop the node and start it again from its config (it comes back as what the config says:
#            a replica carries its replicaof line);
#   upgrade  upgrade the redis-server package (apt-get, dnf or yum, whichever the host has), then restart;
#   reboot   reboot the host 5 s after answering (a transient systemd timer runs `shutdown -r +0`), so that
#            the caller (an SSM command) gets its answer before the host goes down. The node answers until then:
#            a caller that waits for it to come back must look for a new run_id, not just an answer.
# The service mode says how the node runs on this host:
#   systemd:<unit>  AWS hosts: `systemctl restart <unit>`;
#   local           the local runtime (`redis-server <config>` on this machine): `redis-cli SHUTDOWN`, wait
#                   until the pid of the config's pidfile is gone, then `redis-server <config> --daemonize yes`,
#                   which writes the same pidfile. upgrade and reboot are refused locally.
# The password is read from the config's `requirepass` and handed to redis-cli in REDISCLI_AUTH only: never on
# a command line, never in the output. TLS is used when --node-port is the config's `tls-port`.
# Usage: maintenance-action.sh --config /etc/redis/redis.conf --node-port P --action restart|upgrade|reboot
#        --service systemd:<unit>|local
# Exit: 0 done (reboot: scheduled); 1 the action failed (the message says at which step and what to check);
# 2 bad arguments, or an action this service mode refuses.
set -euo pipefail

die() { echo "maintenance-action: $*" >&2; exit 2; }
fail() { echo "maintenance-action: $*" >&2; exit 1; }
config='' node_port='' action='' service=''
while [ $# -gt 0 ]; do
  [ $# -ge 2 ] || die "missing value after '$1'"
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --node-port) node_port="$2"; shift 2 ;;
    --action) action="$2"; shift 2 ;;
    --service) service="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[ -n "$config" ] || die "missing --config"
[ -n "$node_port" ] || die "missing --node-port"
[ -n "$action" ] || die "missing --action"
[ -n "$service" ] || die "missing --service"
[[ "$node_port" =~ ^[0-9]{1,5}$ ]] || die "--node-port '$node_port' is not a number"
case "$action" in restart | upgrade | reboot) ;; *) die "--action '$action' is not one of restart, upgrade, reboot" ;; esac
unit=''
case "$service" in
  local) ;;
  systemd:*)
    unit="${service#systemd:}"
    [[ "$unit" =~ ^[A-Za-z0-9@._-]{1,255}$ ]] || die "--service: '$unit' is not a systemd unit name"
    ;;
  *) die "--service '$service' is neither systemd:<unit> nor local" ;;
esac
[ -f "$config" ] || die "config $config not found"

# The value of a directive, without the quotes redis.conf allows around it.
directive() {
  awk -v key="$1" 'tolower($1) == key { $1 = ""; sub(/^ +/, ""); value = $0 } END { print value }' "$config" \
    | sed -E 's/^"(.*)"$/\1/; s/^'"'"'(.*)'"'"'$/\1/'
}

# --- systemd (AWS hosts) ---------------------------------------------------------------------------------
if [ -n "$unit" ]; then
  command -v systemctl >/dev/null || fail "systemctl is not available; --service systemd:$unit needs systemd"
  case "$action" in
    restart)
      systemctl restart "$unit" || fail "systemctl restart $unit failed; see journalctl -u $unit"
      echo "restarted $unit (node port $node_port)"
      ;;
    upgrade)
      if command -v apt-get >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install --only-upgrade -y -q \
          -o Dpkg::Options::=--force-confold redis-server >/dev/null \
          || fail "apt-get could not upgrade redis-server; the node was not restarted"
      elif command -v dnf >/dev/null; then
        dnf upgrade -y -q redis >/dev/null || fail "dnf could not upgrade redis; the node was not restarted"
      elif command -v yum >/dev/null; then
        yum update -y -q redis >/dev/null || fail "yum could not upgrade redis; the node was not restarted"
      else
        fail "no supported package manager (apt-get, dnf, yum) on this host; the node was not restarted"
      fi
      version="$(redis-server --version 2>/dev/null | awk '{ print $3 }')"
      systemctl restart "$unit" || fail "upgraded to ${version:-?}, but systemctl restart $unit failed; see journalctl -u $unit"
      echo "upgraded redis-server to ${version:-an unknown version} and restarted $unit (node port $node_port)"
      ;;
    reboot)
      # Outside this command's process tree, so that the answer reaches SSM before the host stops.
      command -v systemd-run >/dev/null || fail "systemd-run is not available; cannot schedule the reboot after answering"
      systemd-run --quiet --on-active=5 --unit="ha-redis-maintenance-reboot-$(date +%s)" \
        "$(command -v shutdown)" -r +0 "ha-redis maintenance reboot" \
        || fail "systemd-run could not schedule the reboot; nothing was changed"
      echo "reboot of this host in 5 s (node port $node_port, unit $unit)"
      ;;
  esac
  exit 0
fi

# --- local runtime ---------------------------------------------------------------------------------------
case "$action" in
  upgrade) die "upgrade is refused for a local node: the local runtime uses this machine's redis-server; upgrade it with the package manager yourself" ;;
  reboot) die "reboot is refused for a local node: it would reboot this machine; use --action restart" ;;
esac
command -v redis-cli >/dev/null || fail "redis-cli is not installed; it is needed to shut the node down cleanly"
server="$(command -v redis-server || true)"
for dir in /usr/sbin /sbin /usr/local/sbin; do [ -n "$server" ] || [ ! -x "$dir/redis-server" ] || server="$dir/redis-server"; done
[ -n "$server" ] || fail "redis-server is not installed"
pidfile="$(directive pidfile)"
[ -n "$pidfile" ] || die "config $config has no pidfile; a local restart needs one to know when the node is gone"

host="$(directive bind | awk '{ print $1 }')"
host="${host#-}"
case "$host" in
  '' | '*' | 0.0.0.0) host=127.0.0.1 ;;
  '::' | '::*') host=::1 ;;
esac
password="$(directive requirepass)"
if [ -n "$password" ]; then export REDISCLI_AUTH="$password"; fi
unset password
cli=(redis-cli -e -h "$host" -p "$node_port")
if [ "$node_port" = "$(directive tls-port)" ]; then
  cli+=(--tls)
  ca="$(directive tls-ca-cert-file)"; [ -z "$ca" ] || cli+=(--cacert "$ca")
  cert="$(directive tls-client-cert-file)"; key="$(directive tls-client-key-file)"
  [ -n "$cert" ] || { cert="$(directive tls-cert-file)"; key="$(directive tls-key-file)"; }
  [ -z "$cert" ] || [ -z "$key" ] || cli+=(--cert "$cert" --key "$key")
fi

# A zombie (exited, not yet reaped by its parent) counts as gone.
alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -q ') Z ' "/proc/$1/stat" 2>/dev/null; }
old_pid="$(cat "$pidfile" 2>/dev/null || true)"
[[ "$old_pid" =~ ^[0-9]+$ ]] || old_pid=''

# 1. shut down cleanly (SHUTDOWN persists per the config); a node that is not running is simply started.
if alive "$old_pid"; then
  reply="$(timeout 10 "${cli[@]}" SHUTDOWN 2>&1)" && rc=0 || rc=$?
  # A successful SHUTDOWN closes the connection without a reply; only a real refusal is an error.
  if [ "$rc" -ne 0 ] && [[ "$reply" != *"Could not connect"* && "$reply" != *"closed"* && "$reply" != *"Connection reset"* ]]; then
    alive "$old_pid" && fail "SHUTDOWN of ${host}:${node_port} was refused: ${reply}; the node still runs (pid $old_pid)"
  fi
  # 2. wait until the process is gone (up to 30 s: SHUTDOWN may write an RDB or fsync the AOF first).
  # Decide once: asking again after the loop could see the pid reused by another process once it is reaped.
  gone=''
  for _ in $(seq 1 300); do
    if ! alive "$old_pid"; then gone=1; break; fi
    sleep 0.1
  done
  [ -n "$gone" ] || fail "${host}:${node_port} (pid $old_pid) is still running 30 s after SHUTDOWN; see $(directive logfile)"
  stopped="stopped pid $old_pid"
else
  stopped="was not running"
fi

# 3. start again from the same config; daemonized, it writes the same pidfile.
"$server" "$config" --daemonize yes >/dev/null 2>&1 || fail "redis-server $config did not start; see $(directive logfile)"
new_pid=''
for _ in $(seq 1 100); do
  new_pid="$(cat "$pidfile" 2>/dev/null || true)"
  if [[ "$new_pid" =~ ^[0-9]+$ ]] && [ "$new_pid" != "$old_pid" ] && alive "$new_pid" \
    && [ "$(timeout 2 "${cli[@]}" PING 2>/dev/null)" = "PONG" ]; then
    unset REDISCLI_AUTH
    echo "restarted ${host}:${node_port}: ${stopped}, started pid ${new_pid} (pidfile ${pidfile})"
    exit 0
  fi
  sleep 0.1
done
unset REDISCLI_AUTH
fail "${host}:${node_port} did not answer PING within 10 s of starting; see $(directive logfile)"
