#!/usr/bin/env bash
# Boot test: the qemu-arm64 image under qemu-system-aarch64 (software
# emulation), UEFI firmware (Debian's qemu-efi-aarch64) -> GRUB -> Debian's
# kernel -> systemd, first boot on a card larger than the image.
#
#   image/test/boot-test.sh [IMAGE] [--timeout SECONDS] [--keep]
#
# Checks, reading the serial console and from the host:
#  1. GRUB picks slot A and counts the attempt;
#  2. systemd reaches multi-user;
#  3. first boot: the data partition grows to the (bigger) disk, a new node
#     identity is made, the hostname is set from it (MESHNODE-READY);
#  4. the agent's service starts and prints its "started" line with that id;
#  5. the health check finds it stable and commits the slot (MESHNODE-HEALTH);
#  6. the agent's page answers on the host through qemu user-mode hostfwd on
#     127.0.0.1 (the guest has no other network: restrict=on);
#  7. the agent runs from the app release layout on the data partition
#     (current -> releases/<the image agent's version>), ready for app
#     updates;
#  8. systemd armed the hardware watchdog (the VM has an i6300esb).
# The image file itself is not modified (the guest boots a sparse copy).
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
# The body is one block: bash reads it whole before running it, so editing
# this file while it runs cannot change a build or test in progress.
{

img='' timeout=900 keep=no
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) timeout=$2; shift 2 ;;
    --keep) keep=yes; shift ;;
    *) img=$1; shift ;;
  esac
done
if [ -z "$img" ]; then
  img=$(ls -t "$OUT_DIR"/qemu-arm64/meshnode-*-qemu-arm64.img 2>/dev/null | head -n1 || true)
  if [ -z "$img" ] && xz=$(ls -t "$OUT_DIR"/qemu-arm64/meshnode-*-qemu-arm64.img.xz 2>/dev/null | head -n1); then
    img=${xz%.xz}; xz -dk "$xz"
  fi
fi
[ -f "$img" ] || die "no image (build one: npm run image -- --target qemu-arm64)"
need_tools qemu-system-aarch64 python3 curl
code=/usr/share/AAVMF/AAVMF_CODE.fd vars=/usr/share/AAVMF/AAVMF_VARS.fd
[ -f "$code" ] || die "UEFI firmware missing: apt-get install qemu-efi-aarch64"

dir=$OUT_DIR/boot-test
rm -rf "$dir"; mkdir -p "$dir"
console=$dir/console.log
cp "$vars" "$dir/vars.fd"
# A card 1 GiB larger than the image: first boot must grow the data partition.
cp --sparse=always "$img" "$dir/disk.img"
truncate -s +1G "$dir/disk.img"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

log "booting $(basename "$img") (console: $console, page: 127.0.0.1:$port -> guest :8080)"
t0=$(now_s)
qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 \
  -drive if=pflash,format=raw,readonly=on,file="$code" \
  -drive if=pflash,format=raw,file="$dir/vars.fd" \
  -drive if=none,id=hd0,file="$dir/disk.img",format=raw -device virtio-blk-pci,drive=hd0 \
  -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:"$port"-:8080 -device virtio-net-pci,netdev=n0,romfile= \
  -device virtio-rng-pci -device i6300esb \
  -display none -monitor none -serial file:"$console" -no-reboot &
qpid=$!
cleanup() { kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; [ "$keep" = yes ] || rm -f "$dir/disk.img"; }
trap cleanup EXIT

declare -A at=()
mark() { # NAME PATTERN: first time PATTERN shows up on the console
  if [ -z "${at[$1]:-}" ] && grep -aqE "$2" "$console" 2>/dev/null; then
    at[$1]=$(( $(now_s) - t0 )); log "  $1 after ${at[$1]} s"
  fi
}
page_status=''
while :; do
  mark grub 'meshnode: booting slot A'
  mark kernel 'Booting Linux on physical CPU'
  mark login 'meshnode-[a-z2-7]+ login:'
  mark grown 'meshnode-grow: data partition is now'
  mark ready 'MESHNODE-READY node=mn'
  mark started '"event":"started","nodeId":"mn'
  mark multiuser 'Reached target.*multi-user\.target'
  mark health 'MESHNODE-HEALTH'
  if [ -n "${at[started]:-}" ] && [ -z "$page_status" ]; then
    page_status=$(curl -s -o "$dir/page.html" -w '%{http_code}' --max-time 20 "http://127.0.0.1:$port/" 2>/dev/null || true)
    if [ "$page_status" = 200 ]; then at[page]=$(( $(now_s) - t0 )); log "  page answered 200 after ${at[page]} s"; else page_status=''; fi
  fi
  if [ -n "${at[health]:-}" ] && { [ -n "$page_status" ] || [ $(( $(now_s) - t0 - ${at[health]} )) -gt 60 ]; }; then break; fi
  if ! kill -0 "$qpid" 2>/dev/null; then log "qemu exited"; break; fi
  if [ $(( $(now_s) - t0 )) -ge "$timeout" ]; then log "timeout after $timeout s"; break; fi
  sleep 2
done

# Verdicts.
pass=0 fail=0
check() { # NAME CONDITION-RESULT DETAIL
  if [ "$2" = 0 ]; then pass=$((pass + 1)); printf 'ok   %s %s\n' "$1" "$3"; else fail=$((fail + 1)); printf 'FAIL %s %s\n' "$1" "$3"; fi
}
has() { grep -aqE "$1" "$console"; echo $?; }
ready_id=$(grep -aoE 'MESHNODE-READY node=mn[a-z2-7]+' "$console" | head -n1 | sed 's/.*node=//' || true)
started_id=$(grep -aoE '"event":"started","nodeId":"mn[a-z2-7]+' "$console" | head -n1 | sed 's/.*"nodeId":"//' || true)
health=$(grep -aoE 'MESHNODE-HEALTH .*' "$console" | head -n1 | tr -d '\r' || true)
check "grub: slot A, attempt counted" "$(has 'meshnode: booting slot A .*A_TRY=1')" ""
# systemd itself says the boot is over with nothing failed
# (is-system-running: running) and the default target was reached
# (systemd-analyze), both read by the health check once start-up jobs are
# done. (The console's "Reached target" lines stop once the serial getty
# takes the console, so they are not a reliable sign.)
check "systemd: default target reached, system running" "$(echo "$health" | grep -qE ' system=running userspace=[0-9]'; echo $?)" "($(echo "$health" | grep -oE 'userspace=[^ ]*') in userspace; login prompt after ${at[login]:-?} s)"
check "first boot: data partition grown (before /data was mounted)" "$(has 'meshnode-grow: data partition is now')" "$(grep -aoE 'data partition is now [0-9.]+ GiB' "$console" | head -n1 || true)"
check "first boot: new identity" "$(has 'meshnode-setup: new node identity mn')" "$ready_id"
check "first boot: hostname from node id" "$(has "MESHNODE-READY node=$ready_id hostname=meshnode-${ready_id:2:8}")" "meshnode-${ready_id:2:8}"
check "agent: service started" "$( [ -n "$started_id" ] && [ "$started_id" = "$ready_id" ]; echo $?)" "(${at[started]:-?} s, nodeId $started_id)"
check "agent: no service failures" "$( ! grep -aqE 'Failed to start .*(meshnode|MeshNode)|meshnode.service: (Main process exited|Failed)' "$console"; echo $?)" ""
check "health: stable, slot A committed" "$(has 'MESHNODE-HEALTH ok .*slot=A committed=yes')" "$health"
check "page: answers via hostfwd 127.0.0.1:$port" "$( [ "$page_status" = 200 ]; echo $?)" "(HTTP ${page_status:-no answer})"
check "network: only :8080 (and the DHCP client) beyond loopback" "$(echo "$health" | grep -oE 'listening=\[[^]]*\]' | tr ' ' '\n' | grep -vE '^listening=\[$|127\.0\.0\.5[34]|\[::1\]|127\.0\.0\.1' | grep -vE ':8080\]?$|^udp:.*:(68|546)\]?$' | grep -q . ; [ $? = 1 ] && [ -n "$health" ]; echo $?)" "$(echo "$health" | grep -oE 'listening=\[[^]]*\]')"
agent_version=$(agent_version)
check "ota: agent runs from the app release layout" "$(echo "$health" | grep -qE " app=$agent_version "; echo $?)" "$(echo "$health" | grep -oE 'app=[^ ]*') (current -> releases/$agent_version)"
check "apt: no daily package-list fetch (timers masked)" "$(grep -aqE 'Started .*apt-daily' "$console"; [ $? = 1 ]; echo $?)" ""
check "watchdog: systemd armed the hardware watchdog" "$(echo "$health" | grep -qE ' watchdog=30s '; echo $?)" "$(echo "$health" | grep -oE 'watchdog=[^ ]*')"
log "boot test: $pass passed, $fail failed in $(( $(now_s) - t0 )) s (console log: $console)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
exit
}
