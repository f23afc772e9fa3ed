#!/usr/bin/env bash
# Stage the agent for arm64: /opt/meshnode/app as it will be in the image.
#
#   image/agent/stage.sh DEST
#
# - the agent and protocol sources (no tests, no docs) in a two-workspace
#   copy of the monorepo, so `@meshchain/protocol` resolves as in development;
# - bin/meshnode and VERSION: the directory is an app release, the first one
#   the box runs (see rootfs/overlay/usr/bin/meshnode);
# - production node_modules for linux/arm64/glibc, installed by the host's npm
#   from the repository's own package-lock.json (same versions; npm's --cpu /
#   --os pick the arm64 optional packages: @esbuild/linux-arm64,
#   @node-llama-cpp/linux-arm64), with install scripts off;
# - the two native addons (better-sqlite3, epoll) compiled for arm64 by
#   agent/native.sh inside an arm64 trixie chroot, cached by their inputs.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

dest=${1:?usage: stage.sh DEST}
rm -rf "$dest"; mkdir -p "$dest"

# node_modules, cached by everything that decides them.
mods_key=$(tree_hash "$REPO_ROOT/package-lock.json" "$REPO_ROOT/device-agent/package.json" \
  "$REPO_ROOT/protocol/package.json" "$IMAGE_DIR/agent/stage.sh")
mods=$CACHE_DIR/agent/modules-$mods_key
if [ ! -f "$mods/.complete" ]; then
  log "agent: npm install for linux/arm64 (lock: package-lock.json)"
  rm -rf "$mods"; mkdir -p "$mods/device-agent" "$mods/protocol"
  cp "$REPO_ROOT/package-lock.json" "$mods/"
  cp "$REPO_ROOT/device-agent/package.json" "$mods/device-agent/"
  cp "$REPO_ROOT/protocol/package.json" "$mods/protocol/"
  node -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync(process.argv[1] + "/package-lock.json", "utf8"));
    const tsx = lock.packages["node_modules/tsx"].version;
    fs.writeFileSync(process.argv[1] + "/package.json", JSON.stringify({
      name: "meshchain", private: true, version: "0.1.0", type: "module",
      workspaces: ["protocol", "device-agent"], dependencies: { tsx },
    }, null, 2) + "\n");' "$mods"
  (cd "$mods" && npm install --omit=dev --os=linux --cpu=arm64 --libc=glibc --ignore-scripts \
     --no-audit --no-fund --no-update-notifier --cache "$CACHE_DIR/npm" >&2) || die "npm install failed"
  # Every version must be the one in the repository's lock.
  node -e '
    const a = require(process.argv[1]).packages, b = require(process.argv[2]).packages;
    const bad = Object.keys(b).filter((k) => k && a[k] && a[k].version !== b[k].version);
    if (bad.length) { console.error("versions differ from package-lock.json:", bad.join(", ")); process.exit(1); }
  ' "$REPO_ROOT/package-lock.json" "$mods/package-lock.json"
  # Not needed on the box: type declarations, source maps of dependencies,
  # the llama.cpp sources node-llama-cpp keeps for local builds (the image
  # uses the prebuilt @node-llama-cpp/linux-arm64 and never builds).
  find "$mods/node_modules" -name '*.d.ts' -delete -o -name '*.d.mts' -delete -o -name '*.d.cts' -delete -o -name '*.map' -delete
  rm -rf "$mods/node_modules/@types" "$mods/node_modules/node-llama-cpp/llama/gitRelease.bundle" 2>/dev/null || true
  touch "$mods/.complete"
fi

cp -a "$mods/node_modules" "$mods/package.json" "$mods/package-lock.json" "$dest/"

# Sources: only what runs.
for pkg in protocol device-agent; do
  mkdir -p "$dest/$pkg"
  cp "$REPO_ROOT/$pkg/package.json" "$dest/$pkg/"
  cp -a "$REPO_ROOT/$pkg/src" "$dest/$pkg/"
done
cp "$REPO_ROOT/tsconfig.json" "$dest/" 2>/dev/null || true

# Native addons for arm64.
native=$("$IMAGE_DIR/agent/native.sh" "$dest/node_modules")
for addon in better-sqlite3/build/Release/better_sqlite3.node epoll/build/Release/epoll.node; do
  mkdir -p "$dest/node_modules/$(dirname "$addon")"
  cp "$native/$(basename "$addon")" "$dest/node_modules/$addon"
done
echo "$mods_key" > "$dest/.modules-key"

# A release directory, as app updates install them (device-agent/src/ota/):
# bin/meshnode runs this agent as its version, wherever the directory is.
version=$(agent_version)
[ -n "$version" ] || die "no version in device-agent/package.json"
echo "$version" > "$dest/VERSION"
mkdir -p "$dest/bin"
cat > "$dest/bin/meshnode" <<BIN
#!/bin/sh
# MeshNode agent $version: the agent's CLI (TypeScript run by tsx on the
# system's nodejs), from the release directory this file is in.
here=\$(dirname "\$(readlink -f "\$0")")/..
export MESHNODE_AGENT_VERSION=$version
export MESHNODE_DATA_DIR="\${MESHNODE_DATA_DIR:-/data/meshnode}"
exec /usr/bin/node --import "file://\$here/node_modules/tsx/dist/loader.mjs" "\$here/device-agent/src/cli/main.ts" "\$@"
BIN
chmod 0755 "$dest/bin/meshnode"
log "agent: staged $(du -sh "$dest" | cut -f1) in $dest"
