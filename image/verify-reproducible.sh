#!/usr/bin/env bash
# Build the image twice from the same inputs and compare the sha256 of the
# rootfs tarball, the raw disk image, the compressed image, the bmap and the
# RAUC bundle's payload (the slot image).
#
#   image/verify-reproducible.sh [--target qemu-arm64] [--against DIR]
#
# --against DIR: take an existing build in DIR (e.g. image/out/qemu-arm64,
# made from the same tree) as the first build, so only one more is made.
#
# Both builds use the same SOURCE_DATE_EPOCH, locks (stored repository),
# keyring and cached agent modules / native addons: those are inputs. The
# rootfs (mmdebstrap), the filesystems and the disk are made afresh each time.
# The .raucb file itself is not compared: its CMS signature carries a signing
# time; its payload (rootfs.ext4) is.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
# The body is one block: bash reads it whole before running it, so editing
# this file while it runs cannot change a build or test in progress.
{
target=qemu-arm64 against=''
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=$2; shift 2 ;;
    --against) against=$(cd "$2" && pwd); shift 2 ;;
    *) die "unknown option $1 (image/verify-reproducible.sh [--target T] [--against DIR])" ;;
  esac
done
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(default_source_date_epoch)}
name=meshnode-$(image_version)-$target
first=${against:-$OUT_DIR/repro-1}
second=$OUT_DIR/repro-2
builds=(1 2)
[ -z "$against" ] || builds=(2)
mkdir -p "$OUT_DIR"
for i in "${builds[@]}"; do
  t=$(now_s)
  dir=$OUT_DIR/repro-$i
  log "reproducibility: build $i of 2 (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH)"
  "$IMAGE_DIR/build.sh" --target "$target" --out "$dir" > "$OUT_DIR/repro-$i.log" 2>&1 \
    || { tail -n 30 "$OUT_DIR/repro-$i.log" >&2; die "build $i failed (log: $OUT_DIR/repro-$i.log)"; }
  log "reproducibility: build $i took $(( $(now_s) - t )) s"
done
status=0
for f in rootfs.tar work/rootfs.ext4 "$name.img" "$name.img.xz" "$name.bmap" "$name.manifest"; do
  [ -f "$first/$f" ] && [ -f "$second/$f" ] || { printf 'MISSING  %s\n' "$f"; status=1; continue; }
  a=$(sha256sum < "$first/$f" | cut -d' ' -f1)
  b=$(sha256sum < "$second/$f" | cut -d' ' -f1)
  if [ "$a" = "$b" ]; then printf 'same     %s  %s\n' "$a" "$f"; else printf 'DIFFERS  %s %s  %s\n' "$a" "$b" "$f"; status=1; fi
done
if [ "$status" != 0 ]; then
  log "differences in the rootfs (tar listing, first 40 lines):"
  diff <(tar -tvf "$first/rootfs.tar" --full-time) <(tar -tvf "$second/rootfs.tar" --full-time) | head -n 40 >&2 || true
  die "not reproducible"
fi
log "reproducible: both builds gave the same bytes"
exit
}
