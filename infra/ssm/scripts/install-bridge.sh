#!/usr/bin/env bash
# Install or upgrade the Sentinel event bridge for one Sentinel on this host, as the instance
# ha-redis-bridge@<sentinel port> of a systemd template unit: every Sentinel process of a host gets its own
# bridge (a host set with per-service Sentinels: one per service port; a shared Sentinel: one), with its own
# environment file and releases, so that installing, upgrading or rolling back one leaves the others as they are.
#   1. check that node >= 22 is installed;
#   2. fetch the bundle (one JS file: a local path, or an s3:// URL fetched with `aws s3 cp`) and check it parses;
#   3. install it atomically as <prefix>/<port>/releases/<sha256>/bridge.mjs and swap that instance's `current`
#      link to it; the release it replaces stays as `previous` (rollback: point `current` at it and restart),
#      older ones go;
#   4. render the template unit from ha-redis-bridge@.service (next to this script, or events/bridge/ in a
#      checkout; shared by every instance) and the instance's environment file <env dir>/bridge-<port>.env; the
#      password (and with --tls-ca-parameter the TLS material) is never passed: the service reads it from SSM;
#   5. systemctl daemon-reload, then `enable --now` (install) or `restart` (upgrade) the instance; if the
#      upgraded instance does not stay active, switch back to its previous release and fail;
#   6. migrate an older install's single unit ha-redis-bridge.service (environment file <env dir>/bridge.env,
#      releases directly under <prefix>) when it bridges this port: once the instance is active, disable and
#      stop the old unit and remove its unit file, environment file and releases (both report the same events
#      for a few seconds; the event Lambda is idempotent). If the instance does not come up, it is stopped
#      again and the old unit keeps running unchanged. An install for another port leaves it alone and says so.
# Usage: install-bridge.sh --bundle s3://BUCKET/KEY|/PATH --topic-arn ARN --cluster NAME --sentinel-host HOST
#          --sentinel-port PORT --password-parameter NAME [--tls-ca-parameter NAME [--tls-client-cert-parameter NAME]]
#   A TLS-only Sentinel: --tls-ca-parameter names the SSM parameter with the CA (PEM) its certificate chains to,
#   --tls-client-cert-parameter the one with the client certificate and key (one PEM) for tls-auth-clients; like
#   the password, the service reads them at each start into its private runtime directory. Empty: plain TCP.
#   For a Sentinel that monitors several masters (a host set with shared Sentinels), --cluster takes the
#   cluster of each master name instead: MASTER=CLUSTER,MASTER=CLUSTER (HA_REDIS_CLUSTER of the bridge).
# Flags that are no SSM document parameters, for tests and unusual hosts:
#   --prefix DIR          where releases live, one directory per instance (default /opt/ha-redis-bridge)
#   --unit-dir DIR        where the unit goes (default /etc/systemd/system)
#   --env-dir DIR         where bridge-<port>.env goes (default /etc/ha-redis)
#   --unit-template FILE  the template unit (default: found as described in 4.)
#   --systemctl COMMAND   the systemctl to run (default systemctl)
#   --user NAME           the service user, created as a system user when missing (default ha-redis)
#   --verify-seconds N    how long the service must stay active after a start (default 3)
set -euo pipefail

# The template unit's file, and the single unit of an older install.
readonly TEMPLATE=ha-redis-bridge@.service LEGACY_UNIT=ha-redis-bridge.service
readonly NODE_MAJOR_MIN=22
die() { echo "install-bridge: $*" >&2; exit 2; }
bundle='' topic='' cluster='' sentinel_host='' sentinel_port='' password_parameter=''
tls_ca_parameter='' tls_client_cert_parameter=''
prefix=/opt/ha-redis-bridge unit_dir=/etc/systemd/system env_dir=/etc/ha-redis unit_template=''
systemctl=systemctl user=ha-redis verify_seconds=3
while [ $# -gt 0 ]; do
  case "$1" in
    --bundle) bundle="$2"; shift 2 ;;
    --topic-arn) topic="$2"; shift 2 ;;
    --cluster) cluster="$2"; shift 2 ;;
    --sentinel-host) sentinel_host="$2"; shift 2 ;;
    --sentinel-port) sentinel_port="$2"; shift 2 ;;
    --password-parameter) password_parameter="$2"; shift 2 ;;
    --tls-ca-parameter) tls_ca_parameter="$2"; shift 2 ;;
    --tls-client-cert-parameter) tls_client_cert_parameter="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --unit-dir) unit_dir="$2"; shift 2 ;;
    --env-dir) env_dir="$2"; shift 2 ;;
    --unit-template) unit_template="$2"; shift 2 ;;
    --systemctl) systemctl="$2"; shift 2 ;;
    --user) user="$2"; shift 2 ;;
    --verify-seconds) verify_seconds="$2"; shift 2 ;;
    *) die "unknown argument '$1'" ;;
  esac
done
[[ "$bundle" =~ ^(s3://[a-z0-9][a-z0-9.-]+/.+|/.+)$ ]] || die "--bundle '$bundle' must be an s3:// URL or an absolute path"
[[ "$topic" =~ ^arn:aws[a-z-]*:sns:([a-z0-9-]+):[0-9]{12}:[A-Za-z0-9_.-]+$ ]] || die "--topic-arn '$topic' is not an SNS topic ARN"
region="${BASH_REMATCH[1]}"
cluster_re='[a-z0-9][a-z0-9-]{0,62}' master_re='[A-Za-z0-9._-]{1,64}'
if ! [[ "$cluster" =~ ^${cluster_re}$ ]]; then
  [[ "$cluster" =~ ^${master_re}=${cluster_re}(,${master_re}=${cluster_re})*$ ]] \
    || die "--cluster '$cluster' must be a cluster name (lower-case letters, digits and dashes), or for a Sentinel that monitors several masters master=cluster pairs such as carts=carts,payments=payments"
  declare -A mapped=()
  IFS=, read -r -a pairs <<< "$cluster"
  for pair in "${pairs[@]}"; do
    [ -z "${mapped[${pair%%=*}]:-}" ] || die "--cluster '$cluster' maps master '${pair%%=*}' twice; give each master one cluster"
    mapped[${pair%%=*}]=1
  done
fi
[[ "$sentinel_host" =~ ^[A-Za-z0-9.:-]+$ ]] || die "--sentinel-host '$sentinel_host' is not a host name or IP address"
[[ "$sentinel_port" =~ ^[0-9]{1,5}$ ]] && [ "$((10#$sentinel_port))" -ge 1 ] && [ "$((10#$sentinel_port))" -le 65535 ] \
  || die "--sentinel-port '$sentinel_port' is not a port (1 to 65535)"
# The instance is named by the Sentinel's port: one bridge per Sentinel process on this host.
instance="$((10#$sentinel_port))"
readonly UNIT="ha-redis-bridge@${instance}.service"
[[ "$password_parameter" =~ ^/?[A-Za-z0-9_./-]+$ ]] || die "--password-parameter '$password_parameter' is not an SSM parameter name"
[[ "$tls_ca_parameter" =~ ^(/?[A-Za-z0-9_./-]+)?$ ]] || die "--tls-ca-parameter '$tls_ca_parameter' is not an SSM parameter name"
[[ "$tls_client_cert_parameter" =~ ^(/?[A-Za-z0-9_./-]+)?$ ]] \
  || die "--tls-client-cert-parameter '$tls_client_cert_parameter' is not an SSM parameter name"
[ -z "$tls_client_cert_parameter" ] || [ -n "$tls_ca_parameter" ] \
  || die "--tls-client-cert-parameter needs --tls-ca-parameter too: TLS is on only with the CA the Sentinel's certificate chains to"
[[ "$user" =~ ^[a-z_][a-z0-9_-]*$ ]] || die "--user '$user' is not a user name"
[[ "$verify_seconds" =~ ^[0-9]+$ ]] || die "--verify-seconds '$verify_seconds' is not a number"
for dir in "$prefix" "$unit_dir" "$env_dir"; do
  [[ "$dir" =~ ^/[A-Za-z0-9._/-]*$ ]] || die "'$dir' must be an absolute path without spaces"
done
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$unit_template" ]; then
  for candidate in "${here}/${TEMPLATE}" "${here}/../../../events/bridge/${TEMPLATE}"; do
    [ -f "$candidate" ] && { unit_template="$candidate"; break; }
  done
fi
[ -f "$unit_template" ] || die "unit template ${TEMPLATE} not found (looked next to this script and in events/bridge/); pass --unit-template"
# Checked before anything changes; an older single unit (@BUNDLE@, @ENV_FILE@, no %i) is refused here.
unknown="$(grep -o '@[A-Z_]*@' "$unit_template" | grep -v -x -e @NODE@ -e @PREFIX@ -e @ENV_DIR@ -e @USER@ | head -n 1 || true)"
[ -z "$unknown" ] || die "unit template ${unit_template} has an unknown placeholder: ${unknown}; it must be ${TEMPLATE} of this release"
grep -q '%i' "$unit_template" || die "unit template ${unit_template} is no template unit (it never uses %i); it must be ${TEMPLATE} of this release"
# TLS material is fetched by the unit at each start into its runtime directory: a template that does not would
# start the bridge in plain TCP against a TLS-only Sentinel.
if [ -n "$tls_ca_parameter" ]; then
  grep -q '^RuntimeDirectory=ha-redis-bridge-%i$' "$unit_template" && grep -q 'HA_REDIS_SENTINEL_TLS_CA_PARAMETER' "$unit_template" \
    || die "unit template ${unit_template} does not fetch the TLS material into /run/ha-redis-bridge-%i; it must be ${TEMPLATE} of this release"
fi

# An older install's single unit: migrated when it bridges this port (step 6), else left as it is.
legacy_unit="${unit_dir}/${LEGACY_UNIT}" legacy_env="${env_dir}/bridge.env" legacy_sentinel='' migrate=''
if [ -f "$legacy_unit" ]; then
  legacy_sentinel="$(sed -n 's/^HA_REDIS_SENTINEL=//p' "$legacy_env" 2>/dev/null | tail -n 1 || true)"
  legacy_port="${legacy_sentinel##*:}"
  if [[ "$legacy_port" =~ ^[0-9]{1,5}$ ]] && [ "$((10#$legacy_port))" = "$instance" ]; then migrate=1; fi
fi

# 1. node >= 22
node_bin="$(command -v node)" || die "node ${NODE_MAJOR_MIN} or later is required on this host and there is no 'node' on PATH; install Node.js ${NODE_MAJOR_MIN}+ and run again"
node_version="$("$node_bin" --version 2>/dev/null)" || die "'${node_bin} --version' failed; install Node.js ${NODE_MAJOR_MIN}+ and run again"
node_major="${node_version#v}"; node_major="${node_major%%.*}"
[[ "$node_major" =~ ^[0-9]+$ ]] && [ "$node_major" -ge "$NODE_MAJOR_MIN" ] \
  || die "node ${NODE_MAJOR_MIN} or later is required on this host; ${node_bin} is ${node_version}; install Node.js ${NODE_MAJOR_MIN}+ and run again"

# 2. the bundle, staged inside the instance's directory so that the move into place is atomic
instance_dir="${prefix}/${instance}"
mkdir -p "${instance_dir}/releases"
staging="$(mktemp -d "${instance_dir}/releases/.incoming.XXXXXX")"
trap 'rm -rf "$staging"' EXIT
case "$bundle" in
  s3://*)
    command -v aws >/dev/null || die "the aws CLI is needed to fetch ${bundle}; install it, or pass a local path"
    aws s3 cp --only-show-errors "$bundle" "${staging}/bridge.mjs" >&2 || die "could not fetch ${bundle} (does the instance role allow s3:GetObject on it?); nothing changed" ;;
  *)
    [ -f "$bundle" ] || die "bundle ${bundle} not found; nothing changed"
    cp "$bundle" "${staging}/bridge.mjs" ;;
esac
[ -s "${staging}/bridge.mjs" ] || die "bundle ${bundle} is empty; nothing changed"
check="$("$node_bin" --check "${staging}/bridge.mjs" 2>&1)" || die "bundle ${bundle} does not parse with node ${node_version}: $(head -c 300 <<< "$check"); nothing changed"

# 3. <port>/releases/<sha256>, the instance's `current` swapped atomically, `previous` kept
release="$(sha256sum "${staging}/bridge.mjs" | cut -c1-16)"
chmod 0755 "$staging"; chmod 0644 "${staging}/bridge.mjs"
if [ -d "${instance_dir}/releases/${release}" ]; then rm -rf "$staging"; else mv "$staging" "${instance_dir}/releases/${release}"; fi
swap_link() { ln -sfn "$2" "${instance_dir}/.$1.tmp" && mv -Tf "${instance_dir}/.$1.tmp" "${instance_dir}/$1"; }
was="$(readlink "${instance_dir}/current" 2>/dev/null || true)"
swap_link current "releases/${release}"
if [ -n "$was" ] && [ "$was" != "releases/${release}" ]; then swap_link previous "$was"; fi
kept_previous="$(readlink "${instance_dir}/previous" 2>/dev/null || true)"
for old in "${instance_dir}"/releases/*/; do
  old="releases/$(basename "$old")"
  [ "$old" = "releases/${release}" ] || [ "$old" = "$kept_previous" ] || rm -rf "${instance_dir:?}/${old}"
done

# 4. service user, the instance's environment file and the template unit, each swapped in atomically
if ! id "$user" >/dev/null 2>&1; then
  # An install for another Sentinel of this host may have created it meanwhile.
  useradd --system --no-create-home --shell /usr/sbin/nologin "$user" || id "$user" >/dev/null 2>&1 \
    || die "could not create the service user ${user}"
fi
mkdir -p "$env_dir" "$unit_dir"
# The unit's EnvironmentFile, @ENV_DIR@/bridge-%i.env.
env_file="${env_dir}/bridge-${instance}.env"
tmp="$(mktemp "${env_file}.XXXXXX")"
cat > "$tmp" <<EOF
# Written by install-bridge; the Sentinel password and TLS material are read at start from SSM, never stored here.
HA_REDIS_CLUSTER=${cluster}
HA_REDIS_SENTINEL=${sentinel_host}:${instance}
HA_REDIS_EVENTS_TOPIC_ARN=${topic}
HA_REDIS_SENTINEL_PASSWORD_PARAMETER=${password_parameter}
AWS_REGION=${region}
AWS_DEFAULT_REGION=${region}
EOF
# A TLS-only Sentinel: the unit fetches each parameter at start into the instance's runtime directory (0700),
# where the bridge reads it; the client PEM holds the certificate and its key, so it is both files.
runtime_dir="/run/ha-redis-bridge-${instance}"
if [ -n "$tls_ca_parameter" ]; then
  printf '%s\n' "HA_REDIS_SENTINEL_TLS_CA_PARAMETER=${tls_ca_parameter}" \
    "HA_REDIS_SENTINEL_TLS_CA_FILE=${runtime_dir}/tls-ca.pem" >> "$tmp"
fi
if [ -n "$tls_client_cert_parameter" ]; then
  printf '%s\n' "HA_REDIS_SENTINEL_TLS_CLIENT_CERT_PARAMETER=${tls_client_cert_parameter}" \
    "HA_REDIS_SENTINEL_TLS_CERT_FILE=${runtime_dir}/tls-client.pem" \
    "HA_REDIS_SENTINEL_TLS_KEY_FILE=${runtime_dir}/tls-client.pem" >> "$tmp"
fi
chmod 0644 "$tmp"; mv "$tmp" "$env_file"
# Shared by every instance: the same content whichever instance writes it (same node, prefix, dirs, user).
tmp="$(mktemp "${unit_dir}/.${TEMPLATE}.XXXXXX")"
sed -e "s|@NODE@|${node_bin}|g" -e "s|@PREFIX@|${prefix}|g" \
  -e "s|@ENV_DIR@|${env_dir}|g" -e "s|@USER@|${user}|g" "$unit_template" > "$tmp"
chmod 0644 "$tmp"; mv "$tmp" "${unit_dir}/${TEMPLATE}"

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
  rollback=''
  if [ -n "$was" ] && [ "$was" != "releases/${release}" ] && [ -f "${instance_dir}/${was}/bridge.mjs" ]; then
    swap_link current "$was"
    rollback="${was#releases/}"
  fi
  if [ -n "$migrate" ]; then
    # The older unit still bridges this Sentinel: leave it alone, and stop the instance that did not come up.
    "${sysctl[@]}" disable --now "$UNIT" || true
    die "${UNIT} did not stay active with release ${release}; stopped and disabled it again; ${LEGACY_UNIT} still runs unchanged for ${legacy_sentinel}; see journalctl -u ${UNIT}"
  fi
  if [ -n "$rollback" ]; then
    "${sysctl[@]}" restart "$UNIT" || true
    die "release ${release} did not stay active; rolled back to ${rollback}; see journalctl -u ${UNIT}"
  fi
  die "${UNIT} did not stay active with release ${release}; see journalctl -u ${UNIT}"
fi
echo "${action} ${UNIT}: release ${release} (previous: ${kept_previous:-none}) under ${instance_dir}; node ${node_version}; cluster ${cluster}, sentinel ${sentinel_host}:${instance}${tls_ca_parameter:+ over TLS}; active"

# 6. the older single unit: replaced by this instance when it bridged the same Sentinel, else left alone
if [ -n "$migrate" ]; then
  "${sysctl[@]}" disable --now "$LEGACY_UNIT" \
    || die "${UNIT} is active, but 'systemctl disable --now ${LEGACY_UNIT}' failed: both bridge ${legacy_sentinel} (the event Lambda ignores the duplicate events); run it by hand"
  rm -f "$legacy_unit" "$legacy_env"
  rm -rf "${prefix:?}/releases" "${prefix:?}/current" "${prefix:?}/previous"
  "${sysctl[@]}" daemon-reload || die "systemctl daemon-reload failed after removing ${LEGACY_UNIT}"
  echo "migrated ${LEGACY_UNIT} (sentinel ${legacy_sentinel}) to ${UNIT}: disabled and stopped it, removed its unit, ${legacy_env} and its releases"
elif [ -f "$legacy_unit" ]; then
  echo "left ${LEGACY_UNIT} of an older install as it is (sentinel ${legacy_sentinel:-unknown: no HA_REDIS_SENTINEL in ${legacy_env}}); install the bridge for that Sentinel's port to migrate it to ha-redis-bridge@<port>, or disable it and remove ${legacy_unit}"
fi
