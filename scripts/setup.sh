#!/usr/bin/env bash
# Everything `make demo` and `make test` need on a fresh Debian machine:
#   1. redis-server, redis-sentinel, haproxy, openssl, socat (apt-get, as root) when missing;
#   2. Node 24 from the npm registry (package `node`) into .tools/ when the system Node is older than 22;
#   3. npm ci.
# Prints the directory to put first on PATH (empty when the system Node is used).
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION=24.21.0   # the Lambda nodejs24.x runtime line
say() { echo "setup: $*" >&2; }

# 1. system packages
declare -A pkg_of=([redis-server]=redis-server [redis-sentinel]=redis-sentinel [haproxy]=haproxy [openssl]=openssl [socat]=socat)
missing=()
for tool in redis-server redis-sentinel haproxy openssl socat; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    say "missing ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  # Debian starts the packaged services; ha-redis runs its own processes on free ports, so stop them.
  for svc in redis-server redis-sentinel haproxy; do
    (command -v systemctl >/dev/null && systemctl stop "$svc" >/dev/null 2>&1) || true
  done
fi

# 2. Node 24 when the system Node is older than 22 (a newer system Node is left alone)
node_bin_dir=""
system_major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
if [ "$system_major" -lt 22 ]; then
  node_bin_dir="$PWD/.tools/node_modules/.bin"
  if [ "$("$node_bin_dir/node" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
    say "system Node is v$system_major; installing Node $NODE_VERSION from the npm registry into .tools/"
    mkdir -p .tools
    npm install --prefix .tools --no-save --no-audit --no-fund --loglevel=error "node@$NODE_VERSION" >&2
  fi
  export PATH="$node_bin_dir:$PATH"
fi

# 3. dependencies, from the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
say "ready: node $(node --version), $(redis-server --version | cut -d' ' -f3), $(PATH="$PATH:/usr/sbin" haproxy -v | head -1 | cut -d' ' -f1-3)"
echo "$node_bin_dir"
