#!/usr/bin/env bash
# Check a build's outputs the way a fleet operator or an owner would use them:
#
#   image/verify-outputs.sh [--target qemu-arm64] [DIR]   (default DIR: image/out/<target>)
#
#  - .sha256 lists every output and every sum matches;
#  - the .img.xz is intact (xz -t) and decompresses to exactly the .img;
#  - bmaptool reads the .bmap and flashes the .img through it, verifying the
#    mapped blocks' checksums, into a scratch file equal to the .img;
#  - the partition table is the target's (fixed GUIDs / ids, sizes);
#  - the manifest equals the package lock;
#  - the .raucb verifies against the image's keyring with check-purpose=codesign
#    (rauc info, in the tools chroot) and carries the same slot image as root A.
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
# The body is one block: bash reads it whole before running it.
{
target=qemu-arm64 dir=''
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=$2; shift 2 ;;
    *) dir=$1; shift ;;
  esac
done
# shellcheck disable=SC1090
. "$IMAGE_DIR/targets/$target.conf"
dir=${dir:-$OUT_DIR/$target}
name=$(cd "$dir" && ls meshnode-*-"$target".img | head -n1); name=${name%.img}
[ -n "$name" ] || die "no meshnode-*-$target.img in $dir"
need_tools sha256sum xz bmaptool sfdisk cmp
pass=0 fail=0
check() { if [ "$2" = 0 ]; then pass=$((pass + 1)); printf 'ok   %s %s\n' "$1" "${3:-}"; else fail=$((fail + 1)); printf 'FAIL %s %s\n' "$1" "${3:-}"; fi; }
scratch=$(mktemp -d "$OUT_DIR/verify.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

listed=$(awk '{print $2}' "$dir/$name.sha256" | sort | paste -sd' ' -)
check "sha256: lists img, img.xz, bmap, rootfs.tar" "$( [ "$listed" = "$(printf '%s\n' "$name.bmap" "$name.img" "$name.img.xz" rootfs.tar | sort | paste -sd' ' -)" ]; echo $?)" "($listed)"
check "sha256: every sum matches" "$(cd "$dir" && sha256sum --quiet -c "$name.sha256" >/dev/null 2>&1; echo $?)"
check "xz: archive intact and equal to the raw image" "$(xz -dc "$dir/$name.img.xz" | cmp -s - "$dir/$name.img"; echo $?)"
bmaptool -q copy --bmap "$dir/$name.bmap" "$dir/$name.img" "$scratch/flashed.img" 2> "$scratch/bmap.log" && r=0 || r=$?
check "bmap: bmaptool flashes the image with the .bmap (checksums verified)" "$r" "$(head -c 200 "$scratch/bmap.log")"
# Unmapped blocks are zero in the image, so the flashed copy equals it.
check "bmap: the flashed copy equals the image" "$(cmp -s "$scratch/flashed.img" "$dir/$name.img"; echo $?)"
rm -f "$scratch/flashed.img"
mapped=$(grep -o '<MappedBlocksCount> *[0-9]*' "$dir/$name.bmap" | grep -o '[0-9]*$') total=$(grep -o '<BlocksCount> *[0-9]*' "$dir/$name.bmap" | grep -o '[0-9]*$')
log "bmap maps $mapped of $total blocks ($(( mapped * 100 / total )) %)"

dump=$(sfdisk --dump "$dir/$name.img")
if [ "${PARTITION_TABLE:-gpt}" = dos ]; then
  want_id=$DISK_ID
  got_id=$(echo "$dump" | sed -n 's/^label-id: //p')
else
  want_id=$(echo "$DISK_GUID" | tr a-z A-Z)
  got_id=$(echo "$dump" | sed -n 's/^label-id: //p')
  for p in BOOT ROOTA ROOTB DATA; do
    v=${p}_PARTUUID; u=$(echo "${!v}" | tr a-z A-Z)
    echo "$dump" | grep -q "uuid=$u" || { got_id="missing $p partition GUID $u"; break; }
  done
fi
check "partition table: fixed disk id and partition ids" "$( [ "$got_id" = "$want_id" ]; echo $?)" "($got_id)"
sizes=$(echo "$dump" | sed -n 's/.*size= *\([0-9]*\),.*/\1/p' | paste -sd' ' -)
want_sizes="$((BOOT_SIZE_MIB * 2048)) $((ROOT_SIZE_MIB * 2048)) $((ROOT_SIZE_MIB * 2048)) $((DATA_SIZE_MIB * 2048))"
check "partition table: boot, root A, root B, data sizes" "$( [ "$sizes" = "$want_sizes" ]; echo $?)" "(sectors: $sizes)"

if [ -s "$IMAGE_DIR/$LOCK" ]; then
  check "manifest: equals $LOCK" "$(diff <(grep -v '^#' "$IMAGE_DIR/$LOCK" | LC_ALL=C sort) <(LC_ALL=C sort "$dir/$name.manifest") >/dev/null; echo $?)"
fi

# The bundle, verified as a box would (keyring = the image's /etc/rauc/keyring.pem).
mkdir -p "$scratch/w"
ln "$dir/$name.raucb" "$scratch/w/b.raucb" 2>/dev/null || cp "$dir/$name.raucb" "$scratch/w/b.raucb"
tar -xOf "$dir/rootfs.tar" ./etc/rauc/keyring.pem > "$scratch/w/keyring.pem"
printf '[system]\ncompatible=%s\nbootloader=noop\n[keyring]\npath=/w/keyring.pem\ncheck-purpose=codesign\n' "$COMPATIBLE" > "$scratch/w/verify.conf"
dd if="$dir/$name.img" of="$scratch/w/slotA.ext4" bs=1M skip=$((1 + BOOT_SIZE_MIB)) count="$ROOT_SIZE_MIB" status=none
in_tools "$scratch/w" sh -c 'cd /w && rauc info --conf=verify.conf b.raucb > info.txt 2>&1 &&
  rauc extract --conf=verify.conf b.raucb x > extract.log 2>&1 && cmp -s x/rootfs.ext4 slotA.ext4' && r=0 || r=$?
check "raucb: signature verifies with the image's keyring (codesign), payload = slot A" "$r" "($(grep -m1 -E 'Compatible|compatible' "$scratch/w/info.txt" 2>/dev/null | tr -s ' ' | head -c 80))"
log "verify outputs: $pass passed, $fail failed ($dir)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
exit
}
