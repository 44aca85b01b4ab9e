#!/usr/bin/env bash
# Installs what the tests need beyond Python packages, idempotently:
#  - redis-server and PostgreSQL from Debian's packages (if the machine has none), and for the tests nginx,
#    promtool (package prometheus), chromium and chromium-driver;
#  - Node 22 and the MCP conformance suites from npm, into .tools/ (the machine's node may be older);
#  - the OAuth clients the authorization tests drive: mcp-remote and the MCP Inspector CLI, pinned, into .tools/.
# With --servers-only (make bench), only the Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=.tools
NODE_VERSION=22
CONFORMANCE_VERSIONS=(0.1.16 0.2.0-alpha.12)
# npm package@version -> its .tools directory; installed without lifecycle scripts (none is needed to run them)
OAUTH_CLIENTS=("mcp-remote@0.15.1" "@modelcontextprotocol/inspector@2.12.0")

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
if [ "${1:-}" != "--servers-only" ]; then
  # the fleet tests run behind the shipped nginx config; promtool checks the alert rules; the admin runs in Chromium
  command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  command -v systemd-analyze >/dev/null 2>&1 || missing+=(systemd)  # verifies deploy/systemd's unit
  command -v chromium >/dev/null 2>&1 || missing+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} from Debian's packages"
  apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  # the tests start their own servers on free ports; the packaged services are not needed
  (service redis-server stop; service postgresql stop; service nginx stop; service prometheus stop) >/dev/null 2>&1 || true
fi

[ "${1:-}" = "--servers-only" ] && exit 0

mkdir -p "$TOOLS"
if [ ! -x "$TOOLS/node/node_modules/node/bin/node" ]; then
  echo "installing node@$NODE_VERSION from npm into $TOOLS/node"
  mkdir -p "$TOOLS/node"
  (cd "$TOOLS/node" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund "node@$NODE_VERSION")
fi
for version in "${CONFORMANCE_VERSIONS[@]}"; do
  dir="$TOOLS/conformance-$version"
  if [ ! -d "$dir/node_modules/@modelcontextprotocol/conformance" ]; then
    echo "installing @modelcontextprotocol/conformance@$version from npm into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm init -y >/dev/null && \
      npm install --silent --no-audit --no-fund "@modelcontextprotocol/conformance@$version")
  fi
done
for package in "${OAUTH_CLIENTS[@]}"; do
  name="${package%@*}"
  dir="$TOOLS/$(basename "$name")-${package##*@}"
  if [ ! -d "$dir/node_modules/$name" ]; then
    echo "installing $package from npm into $dir"
    mkdir -p "$dir"
    (cd "$dir" && npm init -y >/dev/null && \
      PATH="$PWD/../node/node_modules/node/bin:$PATH" \
      npm install --silent --no-audit --no-fund --ignore-scripts "$package")
  fi
done
