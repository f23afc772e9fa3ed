#!/usr/bin/env bash
# Compile the agent's native addons for arm64 and print the directory that
# holds them (better_sqlite3.node, epoll.node).
#
#   image/agent/native.sh NODE_MODULES
#
# No arm64 prebuilt of better-sqlite3 can be downloaded here and Debian has no
# package of it, so it is compiled with node-gyp inside a throwaway arm64
# trixie chroot (Debian's build-essential, python3, nodejs + libnode-dev
# headers, node-gyp) run through qemu-user. The chroot's packages are pinned
# by image/builder.lock. The result is cached under cache/native/<key>, the key
# being the addon sources and the lock, so this runs once per change (about
# 10 minutes on 2 busy cores, mostly the sqlite3.c amalgamation under qemu).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"

mods=${1:?usage: native.sh NODE_MODULES}
lock=$IMAGE_DIR/builder.lock
BUILDER_PACKAGES=build-essential,python3,nodejs,libnode-dev,node-gyp
srcs=(better-sqlite3 epoll nan bindings file-uri-to-path)

# Bump RECIPE when the compile steps below change (the script itself is not
# hashed, so comment edits do not cost a 40-minute rebuild).
RECIPE=1
key=$(echo "recipe $RECIPE $BUILDER_PACKAGES" | tree_hash /dev/stdin "$lock" \
  "$mods/better-sqlite3/package.json" "$mods/better-sqlite3/binding.gyp" "$mods/better-sqlite3/src" \
  "$mods/better-sqlite3/deps" "$mods/epoll/package.json" "$mods/epoll/binding.gyp" "$mods/epoll/src" "$mods/nan/package.json")
dir=$CACHE_DIR/native/$key
if [ -f "$dir/.complete" ]; then echo "$dir"; exit 0; fi

need_root; ensure_binfmt
log "native addons: compiling better-sqlite3 and epoll for arm64 under qemu (cached as native/$key)"
rm -rf "$dir"; mkdir -p "$dir"
copy=()
for s in "${srcs[@]}"; do copy+=("$mods/$s"); done
t0=$(now_s)
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(default_source_date_epoch)} \
mmdebstrap --quiet --mode=root --variant=apt --architectures=arm64 --include="$BUILDER_PACKAGES" \
  --customize-hook='mkdir -p "$1/build/node_modules"' \
  --customize-hook="copy-in ${copy[*]} /build/node_modules" \
  --customize-hook='chroot "$1" dpkg-query -W -f "\${Package}=\${Version}\n" > "$1/build/manifest"' \
  --customize-hook='chroot "$1" sh -ec "
      cd /build/node_modules/epoll && node-gyp rebuild --jobs=2 >/build/epoll.log 2>&1
      cd /build/node_modules/better-sqlite3 && node-gyp rebuild --jobs=2 >/build/sqlite.log 2>&1
      strip --strip-unneeded /build/node_modules/better-sqlite3/build/Release/better_sqlite3.node /build/node_modules/epoll/build/Release/epoll.node"' \
  --customize-hook="copy-out /build/node_modules/better-sqlite3/build/Release/better_sqlite3.node /build/node_modules/epoll/build/Release/epoll.node /build/manifest $dir" \
  "$SUITE" /dev/null "$(mirror_args "$lock" arm64)" >&2 || die "native addon build failed"
log "native addons: built in $(( $(now_s) - t0 )) s"
if [ -s "$lock" ]; then check_manifest "$dir/manifest" "$lock" || die "builder packages differ from builder.lock"; fi
touch "$dir/.complete"
echo "$dir"
