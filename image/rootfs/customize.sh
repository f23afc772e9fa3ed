#!/usr/bin/env bash
# mmdebstrap customize hook: turns the Debian rootfs into a MeshNode rootfs.
#
#   customize.sh ROOT WORK
#
# ROOT is the chroot; WORK holds what build.sh prepared: vars (the target's
# settings), app/ (the staged agent), keyring.pem, fleet.json. Writes
# WORK/manifest (dpkg-query) and, for GRUB targets, WORK/BOOTAA64.EFI.
set -euo pipefail
# The body is one block: bash reads it whole before running it, so editing
# this file while it runs cannot change a build or test in progress.
{
root=$1 work=$2
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck disable=SC1091
. "$work/vars"
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 \
  SOURCE_DATE_EPOCH="$SOURCE_DATE_EPOCH" "$@"; }
subst() { sed -e "s|@COMPATIBLE@|$COMPATIBLE|g" -e "s|@ROOTA_PARTUUID@|$ROOTA_PARTUUID|g" \
  -e "s|@ROOTB_PARTUUID@|$ROOTB_PARTUUID|g" -e "s|@BOOT_PARTUUID@|$BOOT_PARTUUID|g" \
  -e "s|@DATA_PARTUUID@|$DATA_PARTUUID|g" -e "s|@KERNEL_CMDLINE@|$KERNEL_CMDLINE|g" "$@"; }

# Files of the image (units, scripts, network and SSH settings). Copied
# without their timestamps (which are the checkout's): new files get the
# copy time, which mmdebstrap clamps to SOURCE_DATE_EPOCH in the tarball.
cp -a --no-preserve=ownership,timestamps "$here/overlay/." "$root/"
# Target-specific files (e.g. the Pi's RAUC tryboot backend).
if [ -d "$here/targets/$TARGET" ]; then cp -a --no-preserve=ownership,timestamps "$here/targets/$TARGET/." "$root/"; fi
subst -i "$root/etc/fstab"
mkdir -p "$root/boot/firmware" "$root/data" "$root/etc/meshnode" "$root/etc/rauc"

# The agent.
mkdir -p "$root/opt/meshnode"
cp -a --no-preserve=ownership,timestamps "$work/app" "$root/opt/meshnode/app"
chmod -R go-w,u+rwX,go+rX "$root/opt/meshnode"
install -m 0644 "$work/fleet.json" "$root/etc/meshnode/config.json"
# OTA: the agent's recovery hook and its service drop-in (device-agent/systemd/),
# and the release keys the box trusts.
install -D -m 0644 "$here/../../device-agent/systemd/meshnode-ota-recover.mjs" "$root/usr/lib/meshnode/meshnode-ota-recover.mjs"
install -D -m 0644 "$here/../../device-agent/systemd/ota.conf" "$root/etc/systemd/system/meshnode.service.d/ota.conf"
{
  echo "# Release public keys this box accepts OTA updates from (set at build: --release-keys)."
  echo "MESHNODE_RELEASE_KEYS=$(cat "$work/release-keys")"
} > "$root/etc/meshnode/ota.env"
chmod 0644 "$root/etc/meshnode/ota.env"

# RAUC: slots and the keyring that bundles must be signed against.
subst "$here/../${RAUC_CONF:-rauc/system.conf.in}" > "$root/etc/rauc/system.conf"
install -m 0644 "$work/keyring.pem" "$root/etc/rauc/keyring.pem"

# What this image is.
cat > "$root/etc/meshnode/image-release" <<EOF
MESHNODE_IMAGE_VERSION=$VERSION
MESHNODE_IMAGE_TARGET=$TARGET
MESHNODE_IMAGE_COMPATIBLE=$COMPATIBLE
SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH
KEYRING="$KEYRING_SUBJECT"
EOF

# os-release(5): the image's own name and version (the agent's OS version
# for system updates when the booted slot has no RAUC bundle version yet).
printf 'IMAGE_ID=meshnode-%s\nIMAGE_VERSION=%s\n' "$TARGET" "$VERSION" >> "$root/usr/lib/os-release"

# Users, services.
in_root systemd-sysusers
in_root systemctl enable meshnode.service meshnode-grow.service meshnode-setup.service meshnode-health.service meshnode-reboot.path \
  systemd-networkd.service systemd-resolved.service systemd-timesyncd.service
# SSH is installed but off: ssh.service only starts when the owner opted in
# (its drop-in has ConditionPathExists on the authorized keys).
in_root systemctl enable ssh.service
in_root systemctl disable ssh.socket 2>/dev/null || true
rm -f "$root"/etc/ssh/ssh_host_*
in_root systemctl mask systemd-networkd-wait-online.service
# The box never runs apt (updates come as RAUC bundles): no daily fetch of
# package lists from the mirror, no unattended upgrade attempts.
in_root systemctl mask apt-daily.timer apt-daily-upgrade.timer
# No getty login on the console by default is not needed: root has no password
# (locked), so a console shows the boot log and a login prompt nobody can pass.
in_root passwd -l root >/dev/null

# Resolver: systemd-resolved's stub; reproducible /etc files.
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
echo meshnode > "$root/etc/hostname"
cat > "$root/etc/apt/sources.list" <<EOF
deb http://deb.debian.org/debian $SUITE main
EOF
rm -f "$root"/etc/apt/sources.list.d/*.list "$root"/etc/apt/sources.list.d/*.sources

# Kernel: stable names for GRUB.
if ls "$root"/boot/vmlinuz-* >/dev/null 2>&1; then
  kver=$(basename "$(ls "$root"/boot/vmlinuz-* | sort -V | tail -n1)" | sed 's/^vmlinuz-//')
  ln -sfn "boot/vmlinuz-$kver" "$root/vmlinuz"
  ln -sfn "boot/initrd.img-$kver" "$root/initrd.img"
  [ -f "$root/boot/initrd.img-$kver" ] || in_root update-initramfs -c -k "$kver"
fi

# GRUB's EFI binary (built from the image's own grub-efi-arm64-bin).
if [ "${BOOTLOADER:-}" = grub-efi ]; then
  in_root grub-mkimage -O arm64-efi -p /grub -o /tmp/BOOTAA64.EFI \
    part_gpt part_msdos fat ext2 normal linux boot configfile loadenv search search_fs_file \
    search_fs_uuid regexp test echo cat sleep gzio efi_gop serial terminal halt reboot
  mv "$root/tmp/BOOTAA64.EFI" "$work/BOOTAA64.EFI"
fi

# Raspberry Pi: the boot partition's files (firmware, config.txt, slot A's
# kernel, initrd, device trees and cmdline.txt in slotA/), written to
# WORK/rpi-boot for the assembler. raspi-firmware's kernel hooks filled the
# rootfs's /boot/firmware; on the box the FAT partition is mounted over it,
# so that copy is dropped.
if [ "${BOOTLOADER:-}" = rpi-tryboot ]; then
  b=$work/rpi-boot
  rm -rf "$b"; mkdir -p "$b/slotA"
  cp "$root"/usr/lib/raspi-firmware/bootcode.bin "$root"/usr/lib/raspi-firmware/start4*.elf \
    "$root"/usr/lib/raspi-firmware/fixup4*.dat "$b/"
  cp -L "$root/vmlinuz" "$b/slotA/vmlinuz"
  cp -L "$root/initrd.img" "$b/slotA/initrd.img"
  cp "$root/usr/lib/linux-image-$kver/broadcom/"bcm2711-*.dtb "$root/usr/lib/linux-image-$kver/broadcom/"bcm2712-*.dtb "$b/slotA/"
  if [ -d "$root/usr/lib/raspi-firmware/overlays" ]; then cp -r "$root/usr/lib/raspi-firmware/overlays" "$b/slotA/"; fi
  printf 'root=PARTUUID=%s rauc.slot=A %s\n' "$ROOTA_PARTUUID" "$KERNEL_CMDLINE" > "$b/slotA/cmdline.txt"
  sed 's|@SLOT_DIR@|slotA|' "$here/../boot/rpi/config.txt.in" > "$b/config.txt"
  # The rest of the command line, for the updater to write a new slot's.
  printf '%s\n' "$KERNEL_CMDLINE" > "$root/etc/meshnode/kernel-cmdline"
  find "$root/boot/firmware" -mindepth 1 -delete
fi

# Things that differ between builds or must be made per box.
rm -f "$root/var/cache/ldconfig/aux-cache" "$root/var/lib/dbus/machine-id" \
  "$root"/var/log/*.log "$root"/var/log/apt/* "$root/var/lib/systemd/random-seed"
find "$root/var/log" -type f -newermt "@$SOURCE_DATE_EPOCH" -delete 2>/dev/null || true
: > "$root/etc/machine-id"   # empty: systemd makes one on first boot
rm -rf "$root"/tmp/* "$root"/var/tmp/*
# apt's caches and lists (mmdebstrap's own cleanup misses them once the
# sources were rewritten): the box never runs apt, updates come as bundles.
rm -f "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
find "$root/var/lib/apt/lists" -mindepth 1 -maxdepth 1 ! -name partial ! -name lock -exec rm -rf {} +

in_root dpkg-query -W -f '${Package}=${Version}\n' | LC_ALL=C sort > "$work/manifest"
exit
}
