#!/usr/bin/env bash
# Refresh the package locks from Debian's mirror as it is today:
#
#   image/lock.sh [--target qemu-arm64] [--rootfs-only]
#
# Builds the image unpinned (the newest trixie versions), then writes
#   image/packages.lock  the rootfs   (arm64, `package=version`, from dpkg-query -W)
#   image/builder.lock   the chroot that compiles the native addons (arm64)
#   image/tools.lock     the chroot that makes the filesystems (amd64)
# --rootfs-only writes only the target's rootfs lock (e.g. packages-rpi.lock
# for --target rpi) and leaves builder.lock and tools.lock, which every target
# shares, as they are.
# Commit the changed locks: that is a new package set, so a new image.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
target=qemu-arm64 rootfs_only=no
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=$2; shift 2 ;;
    --rootfs-only) rootfs_only=yes; shift ;;
    *) die "unknown option $1 (usage: image/lock.sh [--target T] [--rootfs-only])" ;;
  esac
done
# shellcheck disable=SC1090
. "$IMAGE_DIR/targets/$target.conf"
export MESHNODE_UNPINNED=1
out=$OUT_DIR/lock-$target
"$IMAGE_DIR/build.sh" --target "$target" --out "$out"

header() { echo "# $1: package=version (dpkg-query -W), refreshed by image/lock.sh on $(date -u +%F) from $MIRROR $SUITE"; }
{ header "MeshNode rootfs, target $target, arm64"; cat "$out/work/manifest"; } > "$IMAGE_DIR/$LOCK"
if [ "$rootfs_only" = yes ]; then wc -l "$IMAGE_DIR/$LOCK"; exit 0; fi
# The addon builder is locked from the cached build's manifest; to refresh
# it, remove image/cache/native/ first (a ~40-minute compile under qemu).
native=$(ls -td "$CACHE_DIR"/native/*/ | head -n1)
if [ -s "$native/manifest" ]; then
  { header "native addon builder chroot, arm64"; LC_ALL=C sort "$native/manifest"; } > "$IMAGE_DIR/builder.lock"
else
  log "builder.lock not refreshed: the cached native addons ($native) have no manifest"
fi
tools=$(ls -td "$CACHE_DIR"/tools-*/ | head -n1)
{ header "tools chroot, amd64"; LC_ALL=C sort "$tools/manifest"; } > "$IMAGE_DIR/tools.lock"
wc -l "$IMAGE_DIR"/*.lock
