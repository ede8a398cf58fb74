#!/usr/bin/env bash
# Everything `make demo` and `make test` need on a fresh Debian machine:
#   1. redis-server, redis-sentinel, haproxy, openssl, socat (apt-get, as root) when missing; chromium too
#      (headless, only for the live page's browser test, which says why it skips without it) when root;
#   2. npm ci, which also brings Node 24 from the npm registry (the devDependency `node`, pinned) into
#      node_modules/.bin: the Makefile, `npm run` and `npx ha-redis` put that directory first on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_VERSION="$(node -p 'require("./package.json").devDependencies.node' 2>/dev/null || true)"   # the Lambda nodejs24.x line
say() { echo "setup: $*" >&2; }

# 1. system packages
declare -A pkg_of=([redis-server]=redis-server [redis-sentinel]=redis-sentinel [haproxy]=haproxy [openssl]=openssl [socat]=socat)
missing=()
for tool in redis-server redis-sentinel haproxy openssl socat; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null 2>&1 || missing+=("${pkg_of[$tool]}")
done
if [ "$(id -u)" -ne 0 ]; then
  if [ ${#missing[@]} -gt 0 ]; then
    say "missing ${missing[*]}; run as root, or: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  command -v chromium >/dev/null 2>&1 || say "no chromium: the live page's browser test will skip (sudo apt-get install -y chromium)"
elif ! command -v chromium >/dev/null 2>&1; then
  missing+=(chromium)
fi
if [ ${#missing[@]} -gt 0 ]; then
  say "installing ${missing[*]} with apt-get"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
  # Debian starts the packaged services; ha-redis runs its own processes on free ports, so stop them.
  for svc in redis-server redis-sentinel haproxy; do
    (command -v systemctl >/dev/null && systemctl stop "$svc" >/dev/null 2>&1) || true
  done
fi

# 2. dependencies from the lock file, Node 24 among them (any npm runs the install; the system Node may be older)
if ! command -v npm >/dev/null 2>&1; then
  say "npm is missing: install Node.js with npm (any version from 18 on), e.g. apt-get install nodejs npm"
  exit 1
fi
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
  || [ "$(node_modules/.bin/node --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
  say "npm ci"
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
node_bin="$PWD/node_modules/.bin/node"
if [ "$("$node_bin" --version 2>/dev/null || true)" != "v$NODE_VERSION" ]; then
  say "npm ci did not install Node $NODE_VERSION into node_modules/.bin (its install script may be disabled); run: npm rebuild node"
  exit 1
fi
export PATH="$PWD/node_modules/.bin:$PATH"
say "ready: node $(node --version), $(redis-server --version | cut -d' ' -f3), $(PATH="$PATH:/usr/sbin" haproxy -v | head -1 | cut -d' ' -f1-3)"
