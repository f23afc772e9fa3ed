#!/usr/bin/env bash
# Disk image from the rootfs tarball, without mounting anything. Runs inside
# the trixie tools chroot (mke2fs >= 1.47.2 reads the tarball directly) with
# the work directory at /w:
#
#   /w/vars         the target's settings (sizes, fixed UUIDs)
#   /w/rootfs.tar   the rootfs made by mmdebstrap
#   /w/boot/        the files of the boot partition
#
# Writes /w/rootfs.ext4 (slot image, also the RAUC bundle's payload),
# /w/boot.vfat, /w/data.ext4 and /w/disk.img.
set -euo pipefail
# The body is one block: bash reads it whole before running it, so editing
# this file while it runs cannot change a build or test in progress.
{
cd /w
# shellcheck disable=SC1091
. ./vars
export E2FSPROGS_FAKE_TIME=$SOURCE_DATE_EPOCH
MiB=1048576
rm -f rootfs.ext4 data.ext4 boot.vfat disk.img

# Root slot: ext4 straight from the tarball (entries in tar order, which
# mmdebstrap sorts; timestamps from the tar, clamped by mmdebstrap).
mke2fs -q -F -t ext4 -T default -b 4096 -I 256 -L rootfs -U "$ROOT_FS_UUID" \
  -E "hash_seed=$ROOT_HASH_SEED,root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard" \
  -d rootfs.tar rootfs.ext4 "${ROOT_SIZE_MIB}M"

# Data: empty ext4 (the agent's files are made on first boot), grown to the
# card on first boot.
mke2fs -q -F -t ext4 -T default -b 4096 -I 256 -L data -U "$DATA_FS_UUID" \
  -E "hash_seed=$DATA_HASH_SEED,root_owner=0:0,lazy_itable_init=0,lazy_journal_init=0,nodiscard" \
  data.ext4 "${DATA_SIZE_MIB}M"

# Boot: FAT32 with a fixed serial (--invariant), files copied with mtools,
# every timestamp set to SOURCE_DATE_EPOCH.
find boot -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkfs.vfat --invariant -F 32 -S 512 -s 1 -n MESHBOOT -C boot.vfat $(( BOOT_SIZE_MIB * 1024 )) >/dev/null
export MTOOLS_SKIP_CHECK=1
(cd boot && for f in *; do mcopy -s -m -p -Q -i ../boot.vfat "$f" ::; done)

# Partition table on a plain file: boot, root A, root B (empty: RAUC fills
# it), data. GPT by default; MBR where the target says PARTITION_TABLE=dos.
total=$(( (1 + BOOT_SIZE_MIB + 2 * ROOT_SIZE_MIB + DATA_SIZE_MIB + 1) * MiB ))
truncate -s "$total" disk.img
s() { echo $(( $1 * 2048 )); } # MiB -> 512-byte sectors
if [ "${PARTITION_TABLE:-gpt}" = dos ]; then
  # MBR (Raspberry Pi): FAT32 LBA boot partition, then Linux partitions;
  # PARTUUIDs are <disk id>-<number>.
  sfdisk --quiet --no-reread --no-tell-kernel disk.img <<EOF
label: dos
label-id: $DISK_ID
unit: sectors
start=$(s 1), size=$(s "$BOOT_SIZE_MIB"), type=c, bootable
start=$(s $((1 + BOOT_SIZE_MIB))), size=$(s "$ROOT_SIZE_MIB"), type=83
start=$(s $((1 + BOOT_SIZE_MIB + ROOT_SIZE_MIB))), size=$(s "$ROOT_SIZE_MIB"), type=83
start=$(s $((1 + BOOT_SIZE_MIB + 2 * ROOT_SIZE_MIB))), size=$(s "$DATA_SIZE_MIB"), type=83
EOF
else
  sfdisk --quiet --no-reread --no-tell-kernel disk.img <<EOF
label: gpt
label-id: $DISK_GUID
unit: sectors
first-lba: 2048
start=$(s 1), size=$(s "$BOOT_SIZE_MIB"), type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, uuid=$BOOT_PARTUUID, name=boot
start=$(s $((1 + BOOT_SIZE_MIB))), size=$(s "$ROOT_SIZE_MIB"), type=B921B045-1DF0-41C3-AF44-4C6F280D3FAE, uuid=$ROOTA_PARTUUID, name=rootA
start=$(s $((1 + BOOT_SIZE_MIB + ROOT_SIZE_MIB))), size=$(s "$ROOT_SIZE_MIB"), type=B921B045-1DF0-41C3-AF44-4C6F280D3FAE, uuid=$ROOTB_PARTUUID, name=rootB
start=$(s $((1 + BOOT_SIZE_MIB + 2 * ROOT_SIZE_MIB))), size=$(s "$DATA_SIZE_MIB"), type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, uuid=$DATA_PARTUUID, name=data
EOF
fi
dd if=boot.vfat of=disk.img bs=1M seek=1 conv=notrunc,sparse status=none
dd if=rootfs.ext4 of=disk.img bs=1M seek=$((1 + BOOT_SIZE_MIB)) conv=notrunc,sparse status=none
dd if=data.ext4 of=disk.img bs=1M seek=$((1 + BOOT_SIZE_MIB + 2 * ROOT_SIZE_MIB)) conv=notrunc,sparse status=none
sfdisk --dump disk.img
exit
}
