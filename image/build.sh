#!/usr/bin/env bash
# Build the MeshNode OS image.
#
#   image/build.sh [build] [--target qemu-arm64] [--fleet-config FILE]
#                  [--keyring CERT] [--signing-cert CERT --signing-key KEY]
#                  [--release-keys KEY[,KEY…]] [--release] [--out DIR]
#   image/build.sh test [boot|update] [IMAGE]
#                            boot test, then A/B update and fallback test, under
#                            qemu (image/test/boot-test.sh, update-test.sh)
#   image/build.sh repro     build twice, compare (image/verify-reproducible.sh)
#   image/build.sh verify    check a build's outputs (image/verify-outputs.sh)
#   image/build.sh lock      refresh image/*.lock (image/lock.sh)
#
# From the repository root: npm run image -- --target qemu-arm64
#
# Outputs in image/out/<target>/ : meshnode-<version>-<target>.img.xz, .bmap,
# .sha256, .manifest (package=version of the rootfs), .raucb (RAUC bundle of
# the same rootfs) and rootfs.tar. Needs root (mmdebstrap --mode=root, chroot)
# and qemu-user-static in binfmt_misc (registered here if needed).
set -euo pipefail
. "$(dirname "$0")/lib/common.sh"
# The body is one block: bash reads it whole before running it, so editing
# this file while it runs cannot change a build or test in progress.
{

case ${1:-} in
  test)
    shift
    case ${1:-all} in
      boot) shift; exec "$IMAGE_DIR/test/boot-test.sh" "$@" ;;
      update) shift; exec "$IMAGE_DIR/test/update-test.sh" "$@" ;;
      *) [ "${1:-}" != all ] || shift
        "$IMAGE_DIR/test/boot-test.sh" "$@" && exec "$IMAGE_DIR/test/update-test.sh" "$@" ;;
    esac ;;
  repro) shift; exec "$IMAGE_DIR/verify-reproducible.sh" "$@" ;;
  verify) shift; exec "$IMAGE_DIR/verify-outputs.sh" "$@" ;;
  lock) shift; exec "$IMAGE_DIR/lock.sh" "$@" ;;
  build) shift ;;
esac

target=qemu-arm64 fleet=$IMAGE_DIR/config/fleet.json keyring='' sign_cert='' sign_key='' release=no out='' release_keys=''
while [ $# -gt 0 ]; do
  case $1 in
    --target) target=$2; shift 2 ;;
    --fleet-config) fleet=$2; shift 2 ;;
    --keyring) keyring=$2; shift 2 ;;
    --signing-cert) sign_cert=$2; shift 2 ;;
    --signing-key) sign_key=$2; shift 2 ;;
    --release) release=yes; shift ;;
    --release-keys) release_keys=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "unknown option $1 (see image/build.sh --help)" ;;
  esac
done
[ -f "$IMAGE_DIR/targets/$target.conf" ] || die "unknown target $target (targets: $(ls "$IMAGE_DIR/targets" | sed 's/\.conf$//' | paste -sd' '))"
# shellcheck disable=SC1090
. "$IMAGE_DIR/targets/$target.conf"
[ "${BUILDABLE:-yes}" = yes ] || die "target $target cannot be built yet: ${BUILDABLE_WHY:-see image/README.md}"

need_root
need_tools mmdebstrap node npm sha256sum tar
ensure_binfmt

export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(default_source_date_epoch)}
version=$(image_version)
name=meshnode-$version-$target
out=${out:-$OUT_DIR/$target}
work=$out/work
mkdir -p "$out"
rm -rf "$work"; mkdir -p "$work"
t_all=$(now_s)
log "building $name (SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH, $(date -u -d "@$SOURCE_DATE_EPOCH" +%F))"

# Keys: the keyring in the image, and the key that signs the RAUC bundle.
if [ -z "$keyring" ]; then
  [ "$release" = no ] || die "--release needs --keyring (the fleet's release certificate); the development key is refused"
  devkeys=$("$IMAGE_DIR/keys/make-dev-keys.sh")
  keyring=$devkeys/cert.pem sign_cert=$devkeys/cert.pem sign_key=$devkeys/key.pem
fi
if [ "$release" = yes ] && openssl x509 -in "$keyring" -noout -subject | grep -q DEVELOPMENT; then
  die "--release with the development keyring"
fi
cp "$keyring" "$work/keyring.pem"
keyring_subject=$(openssl x509 -in "$keyring" -noout -subject -nameopt RFC2253 | sed 's/^subject=//')
node -e 'const c=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8")); if(!c.mqttUrl||!c.controlPlaneId) throw new Error("fleet config needs mqttUrl and controlPlaneId")' "$fleet" \
  || die "bad fleet config $fleet"
cp "$fleet" "$work/fleet.json"
# The app-release public keys the box trusts (`meshchain release keygen`
# prints one); none: the box refuses every OTA update until its ota.env names
# one.
for k in ${release_keys//,/ }; do
  [[ $k =~ ^[A-Za-z0-9_-]{43}$ ]] || die "--release-keys: '$k' is not a release public key (43 base64url characters)"
done
[ -n "$release_keys" ] || log "no --release-keys: the image's agent will refuse OTA updates (untrusted-key)"
echo "${release_keys// /}" > "$work/release-keys"

# Target settings for the hooks and the assembler.
{
  set | grep -E '^(TARGET|COMPATIBLE|BOOTLOADER|KERNEL_CMDLINE|RAUC_CONF|PARTITION_TABLE|[A-Z]+_SIZE_MIB|DISK_GUID|DISK_ID|[A-Z]+_PARTUUID|[A-Z]+_FS_UUID|[A-Z]+_HASH_SEED)='
  echo "VERSION=$version"
  echo "SUITE=$SUITE"
  echo "SOURCE_DATE_EPOCH=$SOURCE_DATE_EPOCH"
  printf 'KEYRING_SUBJECT=%q\n' "$keyring_subject"
} > "$work/vars"

# 1. The agent for arm64.
t=$(now_s)
"$IMAGE_DIR/agent/stage.sh" "$work/app"
log "agent staged in $(( $(now_s) - t )) s"

# 2. The rootfs.
lock=$IMAGE_DIR/$LOCK
lists=()
for l in $PACKAGE_LISTS; do lists+=("$IMAGE_DIR/$l"); done
includes=$(include_list "${lists[@]}")
mirror=$(mirror_args "$lock" arm64)
log "rootfs: mmdebstrap arm64 $SUITE from ${mirror%% ./}"
t=$(now_s)
mmdebstrap --mode=root --variant=apt --architectures=arm64 --include="$includes" \
  --aptopt='Acquire::Languages "none"' \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' --dpkgopt='path-exclude=/usr/share/info/*' \
  --customize-hook="\"$IMAGE_DIR/rootfs/customize.sh\" \"\$1\" \"$work\"" \
  "$SUITE" "$work/rootfs.tar" "$mirror" > "$work/mmdebstrap.log" 2>&1 \
  || { tail -n 40 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed (log: $work/mmdebstrap.log)"; }
log "rootfs built in $(( $(now_s) - t )) s: $(du -h "$work/rootfs.tar" | cut -f1) tar"
if [ -s "$lock" ] && [ -z "${MESHNODE_UNPINNED:-}" ]; then
  check_manifest "$work/manifest" "$lock" || die "the rootfs's packages differ from $LOCK"
fi

# 3. Boot partition contents.
mkdir -p "$work/boot/meshnode"
cp "$IMAGE_DIR/boot/owner/"* "$work/boot/meshnode/"
if [ "$BOOTLOADER" = grub-efi ]; then
  mkdir -p "$work/boot/EFI/BOOT" "$work/boot/grub"
  cp "$work/BOOTAA64.EFI" "$work/boot/EFI/BOOT/BOOTAA64.EFI"
  sed -e "s|@ROOTA_PARTUUID@|$ROOTA_PARTUUID|g" -e "s|@ROOTB_PARTUUID@|$ROOTB_PARTUUID|g" \
    -e "s|@KERNEL_CMDLINE@|$KERNEL_CMDLINE|g" "$IMAGE_DIR/boot/grub.cfg.in" > "$work/boot/grub/grub.cfg"
fi
if [ "$BOOTLOADER" = rpi-tryboot ]; then
  [ -f "$work/rpi-boot/config.txt" ] || die "the rootfs hook wrote no Raspberry Pi boot files"
  cp -a "$work/rpi-boot/." "$work/boot/"
fi

# 4. Partitions and disk image (tools chroot: trixie's e2fsprogs, mtools...).
t=$(now_s)
cp "$IMAGE_DIR/lib/assemble.sh" "$work/"
if [ "$BOOTLOADER" = grub-efi ]; then
  in_tools "$work" sh -ec 'cd /w && grub-editenv boot/grub/grubenv create &&
    grub-editenv boot/grub/grubenv set ORDER="A B" A_OK=1 A_TRY=0 B_OK=0 B_TRY=0'
fi
in_tools "$work" bash /w/assemble.sh > "$work/assemble.log" 2>&1 \
  || { cat "$work/assemble.log" >&2; die "disk assembly failed"; }
log "disk assembled in $(( $(now_s) - t )) s"

# 5. Outputs.
t=$(now_s)
mv "$work/disk.img" "$work/$name.img"
in_tools "$work" sh -ec "cd /w && xz -T2 -6 -k -f $name.img && bmaptool -q create -o $name.bmap $name.img"
# RAUC bundle of the same rootfs (its signature carries a signing time, so
# the .raucb itself is not byte-reproducible; its payload is).
mkdir -p "$work/bundle" "$work/keys"
ln -f "$work/rootfs.ext4" "$work/bundle/rootfs.ext4"
cat > "$work/bundle/manifest.raucm" <<EOF
[update]
compatible=$COMPATIBLE
version=$version

[bundle]
format=verity

[image.rootfs]
filename=rootfs.ext4
EOF
cp "$sign_cert" "$work/keys/cert.pem"; cp "$sign_key" "$work/keys/key.pem"; chmod 600 "$work/keys/key.pem"
# Verify it as a box would: the keyring with check-purpose=codesign.
printf '[system]\ncompatible=%s\nbootloader=noop\n[keyring]\npath=/w/keys/keyring.pem\ncheck-purpose=codesign\n' "$COMPATIBLE" > "$work/keys/verify.conf"
cp "$work/keyring.pem" "$work/keys/keyring.pem"
in_tools "$work" sh -ec "cd /w && rm -f $name.raucb && rauc bundle --cert keys/cert.pem --key keys/key.pem bundle $name.raucb >/dev/null 2>&1 && rauc info --conf=keys/verify.conf $name.raucb > bundle-info.txt 2>&1" \
  || { cat "$work/bundle-info.txt" >&2 2>/dev/null; die "RAUC bundle failed"; }
rm -rf "$work/keys"
for f in "$name.img.xz" "$name.bmap" "$name.raucb"; do mv -f "$work/$f" "$out/$f"; done
cp "$work/manifest" "$out/$name.manifest"
mv -f "$work/rootfs.tar" "$out/rootfs.tar"
mv -f "$work/$name.img" "$out/$name.img"
(cd "$out" && sha256sum "$name.img.xz" "$name.img" "$name.bmap" rootfs.tar > "$name.sha256")
log "outputs written in $(( $(now_s) - t )) s"

raw=$(stat -c %s "$out/$name.img") xz=$(stat -c %s "$out/$name.img.xz")
log "done in $(( $(now_s) - t_all )) s: $out/$name.img.xz ($(( xz / 1048576 )) MiB; raw $(( raw / 1048576 )) MiB)"
sed 's/^/  /' "$out/$name.sha256" >&2
exit
}
