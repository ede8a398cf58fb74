#!/usr/bin/env bash
# Install or upgrade the node agent of this Redis host as the systemd service ha-redis-agent: one agent per host,
# holding a connection to every Redis node on it, which publishes a node-exited event to the Sentinel events
# topic within a few ms of a redis-server's exit (the fast path).
#   1. check that node >= 22 is installed;
#   2. fetch the bundle (one JS file: a local path, or an s3:// URL fetched with `aws s3 cp`) and check it parses;
#   3. install it atomically as <prefix>/releases/<sha256>/agent.mjs and swap the `current` link to it; the
#      release it replaces stays as `previous` (rollback: point `current` at it and restart), older ones go;
#   4. render the unit from ha-redis-agent.service (next to this script, or events/agent/ in a checkout) and the
#      environment file <env dir>/agent.env; the password (and with --tls-ca-parameter the TLS material) is never
#      passed: the service reads it from SSM at each start;
#   5. systemctl daemon-reload, then `enable --now` (install) or `restart` (upgrade, or the same release with
#      other nodes); if the upgraded service does not stay active, switch back to the previous release and fail.
# Usage: install-agent.sh --bundle s3://BUCKET/KEY|/PATH --topic-arn ARN --nodes CLUSTER=HOST:PORT[,...]
#          --password-parameter NAME [--tls-ca-parameter NAME [--tls-client-cert-parameter NAME]]
#   TLS-only nodes: --tls-ca-parameter names the SSM parameter with the CA (PEM) their certificates chain to,
#   --tls-client-cert-parameter the one with the client certificate and key (one PEM) for tls-auth-clients; like
#   the password, the service reads them at each start into its private runtime directory. Empty: plain TCP.
#   --nodes names every Redis node on this host as its cluster config does (HA_REDIS_AGENT_NODES of the agent).
# Flags that are no SSM document parameters, for tests and unusual hosts:
#   --prefix DIR          where releases live (default /opt/ha-redis-agent)
#   --unit-dir DIR        where the unit goes (default /etc/systemd/system)
#   --env-dir DIR         where agent.env goes (default /etc/ha-redis)
#   --unit-file FILE      the unit to render (default: found as described in 4.)
#   --systemctl COMMAND   the systemctl to run (default systemctl)
#   --user NAME           the service user, created as a system user when missing (default ha-redis)
#   --verify-seconds N    how long the service must stay active after a start (default 3)
set -euo pipefail

readonly UNIT=ha-redis-agent.service
readonly NODE_MAJOR_MIN=22
die() { echo "install-agent: $*" >&2; exit 2; }
bundle='' topic='' nodes='' password_parameter='' tls_ca_parameter='' tls_client_cert_parameter=''
prefix=/opt/ha-redis-agent unit_dir=/etc/systemd/system env_dir=/etc/ha-redis unit_file=''
systemctl=systemctl user=ha-redis verify_seconds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --topic-arn) topic="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --password-parameter) password_parameter="$2"; shift 2 ;;
    --tls-ca-parameter) tls_ca_parameter="$2"; shift 2 ;;
    --tls-client-cert-parameter) tls_client_cert_parameter="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --unit-dir) unit_dir="$2"; shift 2 ;;
    --env-dir) env_dir="$2"; shift 2 ;;
    --unit-file) unit_file="$2"; shift 2 ;;
    --systemctl) systemctl="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --verify-seconds) verify_seconds="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ "$bundle" =~ ^(s3://[a-z0-9][a-z0-9.-]+/.+|/.+)$ ]] || die "--bundle '$bundle' must be an s3:// URL or an absolute path"
[[ "$topic" =~ ^arn:aws[a-z-]*:sns:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_.-]+$ ]] || die "--topic-arn '$topic' is not an SNS topic ARN"
region="${BASH_REMATCH[1]}"
node_re='[a-z0-9][a-z0-9-]{0,62}=[A-Za-z0-9:][A-Za-z0-9.:-]{0,252}:[0-9]{1,5}'
[[ "$nodes" =~ ^${node_re}(,${node_re})*$ ]] \
  || die "--nodes '$nodes' must be cluster=host:port items, comma-separated, such as orders=10.0.1.11:6379,sessions=10.0.1.11:6380 (a cluster name: lower-case letters, digits and dashes)"
# Each port in range, each node once (a node belongs to one cluster); ports written without leading zeros.
declare -A seen=()
watched=''
IFS=, read -r -a items <<< "$nodes"
for item in "${items[@]}"; do
  cluster="${item%%=*}" endpoint="${item#*=}"
  host="${endpoint%:*}" port="${endpoint##*:}"
  [ "$((10#$port))" -ge 1 ] && [ "$((10#$port))" -le 65535 ] \
    || die "--nodes: '${item}': port ${port} is not a port (1 to 65535)"
  node="${host}:$((10#$port))"
  [ -z "${seen[$node]:-}" ] || die "--nodes lists node ${node} twice (${seen[$node]} and ${cluster}); a node belongs to one cluster"
  seen[$node]="$cluster"
  watched="${watched:+${watched},}${cluster}=${node}"
done
[[ "$password_parameter" =~ ^/?[A-Za-z0-9_./-]+$ ]] || die "--password-parameter '$password_parameter' is not an SSM parameter name"
[[ "$tls_ca_parameter" =~ ^(/?[A-Za-z0-9_./-]+)?$ ]] || die "--tls-ca-parameter '$tls_ca_parameter' is not an SSM parameter name"
[[ "$tls_client_cert_parameter" =~ ^(/?[A-Za-z0-9_./-]+)?$ ]] \
  || die "--tls-client-cert-parameter '$tls_client_cert_parameter' is not an SSM parameter name"
[ -z "$tls_client_cert_parameter" ] || [ -n "$tls_ca_parameter" ] \
  || die "--tls-client-cert-parameter needs --tls-ca-parameter too: TLS is on only with the CA the nodes' certificates chain to"
[[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user '$user' is not a user name"
[[ "$verify_seconds" =~ ^[0-9]+$ ]] || die "--verify-seconds '$verify_seconds' is not a number"
for dir in "$prefix" "$unit_dir" "$env_dir"; do
  [[ "$dir" =~ ^/[A-Za-z0-9._/-]*$ ]] || die "'$dir' must be an absolute path without spaces"
done
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$unit_file" ]; then
  for candidate in "${here}/${UNIT}" "${here}/../../../events/agent/${UNIT}"; do
    [ -f "$candidate" ] && { unit_file="$candidate"; break; }
  done
fi
[ -f "$unit_file" ] || die "unit ${UNIT} not found (looked next to this script and in events/agent/); pass --unit-file"
# Checked before anything changes.
unknown="$(grep -o '@[A-Z_]*@' "$unit_file" | grep -v -x -e @NODE@ -e @PREFIX@ -e @ENV_DIR@ -e @USER@ | head -n 1 || true)"
[ -z "$unknown" ] || die "unit ${unit_file} has an unknown placeholder: ${unknown}; it must be ${UNIT} of this release"
grep -q '^ExecStart=@NODE@ @PREFIX@/current/agent.mjs$' "$unit_file" \
  || die "unit ${unit_file} does not run @PREFIX@/current/agent.mjs; it must be ${UNIT} of this release"
# TLS material is fetched by the unit at each start into its runtime directory: a unit that does not would start
# the agent in plain TCP against TLS-only nodes.
if [ -n "$tls_ca_parameter" ]; then
  grep -q '^RuntimeDirectory=ha-redis-agent$' "$unit_file" && grep -q 'HA_REDIS_NODE_TLS_CA_PARAMETER' "$unit_file" \
    || die "unit ${unit_file} does not fetch the TLS material into /run/ha-redis-agent; it must be ${UNIT} of this release"
fi

# 1. node >= 22
node_bin="$(command -v node)" || die "node ${NODE_MAJOR_MIN} or later is required on this host and there is no 'node' on PATH; install Node.js ${NODE_MAJOR_MIN}+ and run again"
node_version="$("$node_bin" --version 2>/dev/null)" || die "'${node_bin} --version' failed; install Node.js ${NODE_MAJOR_MIN}+ and run again"
node_major="${node_version#v}"; node_major="${node_major%%.*}"
[[ "$node_major" =~ ^[0-9]+$ ]] && [ "$node_major" -ge "$NODE_MAJOR_MIN" ] \
  || die "node ${NODE_MAJOR_MIN} or later is required on this host; ${node_bin} is ${node_version}; install Node.js ${NODE_MAJOR_MIN}+ and run again"

# 2. the bundle, staged inside the prefix so that the move into place is atomic
mkdir -p "${prefix}/releases"
staging="$(mktemp -d "${prefix}/releases/.incoming.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
case "$bundle" in
  s3://*)
    command -v aws >/dev/null || die "the aws CLI is needed to fetch ${bundle}; install it, or pass a local path"
    aws s3 cp --only-show-errors "$bundle" "${staging}/agent.mjs" >&2 || die "could not fetch ${bundle} (does the instance role allow s3:GetObject on it?); nothing changed" ;;
  *)
    [ -f "$bundle" ] || die "bundle ${bundle} not found; nothing changed"
    cp "$bundle" "${staging}/agent.mjs" ;;
esac
[ -s "${staging}/agent.mjs" ] || die "bundle ${bundle} is empty; nothing changed"
check="$("$node_bin" --check "${staging}/agent.mjs" 2>&1)" || die "bundle ${bundle} does not parse with node ${node_version}: $(head -c 300 <<< "$check"); nothing changed"

# 3. releases/<sha256>, `current` swapped atomically, `previous` kept
release="$(sha256sum "${staging}/agent.mjs" | cut -c1-16)"
chmod 0755 "$staging"; chmod 0644 "${staging}/agent.mjs"
if [ -d "${prefix}/releases/${release}" ]; then rm -rf "$staging"; else mv "$staging" "${prefix}/releases/${release}"; fi
swap_link() { ln -sfn "$2" "${prefix}/.$1.tmp" && mv -Tf "${prefix}/.$1.tmp" "${prefix}/$1"; }
was="$(readlink "${prefix}/current" 2>/dev/null || true)"
swap_link current "releases/${release}"
if [ -n "$was" ] && [ "$was" != "releases/${release}" ]; then swap_link previous "$was"; fi
kept_previous="$(readlink "${prefix}/previous" 2>/dev/null || true)"
for old in "${prefix}"/releases/*/; do
  old="releases/$(basename "$old")"
  [ "$old" = "releases/${release}" ] || [ "$old" = "$kept_previous" ] || rm -rf "${prefix:?}/${old}"
done

# 4. service user, environment file and unit, each swapped in atomically
if ! id "$user" >/dev/null 2>&1; then
  # An install of the bridge on this host may have created it meanwhile.
  useradd --system --no-create-home --shell /usr/sbin/nologin "$user" || id "$user" >/dev/null 2>&1 \
    || die "could not create the service user ${user}"
fi
mkdir -p "$env_dir" "$unit_dir"
env_file="${env_dir}/agent.env"
tmp="$(mktemp "${env_file}.XXXXXX")"
cat > "$tmp" <<EOF
# Written by install-agent; the nodes' password and TLS material are read at start from SSM, never stored here.
HA_REDIS_AGENT_NODES=${watched}
HA_REDIS_EVENTS_TOPIC_ARN=${topic}
HA_REDIS_NODE_PASSWORD_PARAMETER=${password_parameter}
AWS_REGION=${region}
AWS_DEFAULT_REGION=${region}
EOF
# TLS-only nodes: the unit fetches each parameter at start into the service's runtime directory (0700), where
# the agent reads it; the client PEM holds the certificate and its key, so it is both files.
runtime_dir=/run/ha-redis-agent
if [ -n "$tls_ca_parameter" ]; then
  printf '%s\n' "HA_REDIS_NODE_TLS_CA_PARAMETER=${tls_ca_parameter}" \
    "HA_REDIS_NODE_TLS_CA_FILE=${runtime_dir}/tls-ca.pem" >> "$tmp"
fi
if [ -n "$tls_client_cert_parameter" ]; then
  printf '%s\n' "HA_REDIS_NODE_TLS_CLIENT_CERT_PARAMETER=${tls_client_cert_parameter}" \
    "HA_REDIS_NODE_TLS_CERT_FILE=${runtime_dir}/tls-client.pem" \
    "HA_REDIS_NODE_TLS_KEY_FILE=${runtime_dir}/tls-client.pem" >> "$tmp"
fi
chmod 0644 "$tmp"; mv "$tmp" "$env_file"
tmp="$(mktemp "${unit_dir}/.${UNIT}.XXXXXX")"
sed -e "s|@NODE@|${node_bin}|g" -e "s|@PREFIX@|${prefix}|g" \
  -e "s|@ENV_DIR@|${env_dir}|g" -e "s|@USER@|${user}|g" "$unit_file" > "$tmp"
chmod 0644 "$tmp"; mv "$tmp" "${unit_dir}/${UNIT}"

# 5. (re)start, and keep the previous release when the new one does not stay up
read -r -a sysctl <<< "$systemctl"
"${sysctl[@]}" daemon-reload || die "systemctl daemon-reload failed"
if [ -z "$was" ]; then
  action=installed
  "${sysctl[@]}" enable --now "$UNIT" || die "systemctl enable --now ${UNIT} failed; see journalctl -u ${UNIT}"
else
  action=upgraded
  "${sysctl[@]}" enable "$UNIT" || die "systemctl enable ${UNIT} failed"
  "${sysctl[@]}" restart "$UNIT" || die "systemctl restart ${UNIT} failed; see journalctl -u ${UNIT}"
fi
sleep "$verify_seconds"
if ! "${sysctl[@]}" is-active --quiet "$UNIT"; then
  if [ -n "$was" ] && [ "$was" != "releases/${release}" ] && [ -f "${prefix}/${was}/agent.mjs" ]; then
    swap_link current "$was"
    "${sysctl[@]}" restart "$UNIT" || true
    die "release ${release} did not stay active; rolled back to ${was#releases/}; see journalctl -u ${UNIT}"
  fi
  die "${UNIT} did not stay active with release ${release}; see journalctl -u ${UNIT}"
fi
echo "${action} ${UNIT}: release ${release} (previous: ${kept_previous:-none}) under ${prefix}; node ${node_version}; watching ${watched}${tls_ca_parameter:+ over TLS}; active"
