#!/usr/bin/env bash
# Build the image twice from the same inputs and compare the sha256 of the
# rootfs tarball, the raw disk image, the compressed image and the bmap.
#
#   image/verify-reproducible.sh [--target qemu-arm64]
#
# Both builds use the same SOURCE_DATE_EPOCH, locks (stored repository),
# keyring and cached agent modules / native addons: those are inputs. The
# rootfs (mmdebstrap), the filesystems and the disk are made afresh each time.
# The RAUC bundle is not compared: its CMS signature carries a signing time.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
target=qemu-arm64
[ "${1:-}" = --target ] && target=$2
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(default_source_date_epoch)}
name=meshnode-$(image_version)-$target
for i in 1 2; do
  t=$(now_s)
  log "reproducibility: build $i of 2"
  "$IMAGE_DIR/build.sh" --target "$target" --out "$OUT_DIR/repro-$i" > "$OUT_DIR/repro-$i.log" 2>&1 \
    || { tail -n 30 "$OUT_DIR/repro-$i.log" >&2; die "build $i failed (log: $OUT_DIR/repro-$i.log)"; }
  log "reproducibility: build $i took $(( $(now_s) - t )) s"
done
status=0
for f in rootfs.tar "$name.img" "$name.img.xz" "$name.bmap"; do
  a=$(sha256sum < "$OUT_DIR/repro-1/$f" | cut -d' ' -f1)
  b=$(sha256sum < "$OUT_DIR/repro-2/$f" | cut -d' ' -f1)
  if [ "$a" = "$b" ]; then printf 'same     %s  %s\n' "$a" "$f"; else printf 'DIFFERS  %s %s  %s\n' "$a" "$b" "$f"; status=1; fi
done
if [ "$status" != 0 ]; then
  log "differences in the rootfs (tar listing, first 40 lines):"
  diff <(tar -tvf "$OUT_DIR/repro-1/rootfs.tar" --full-time) <(tar -tvf "$OUT_DIR/repro-2/rootfs.tar" --full-time) | head -n 40 >&2 || true
  die "not reproducible"
fi
log "reproducible: both builds gave the same bytes"
