#!/usr/bin/env bash
# Update test: install the RAUC bundle into slot B, reboot into it, and check
# that the node identity on the data partition survived.
#
#   image/test/update-test.sh [IMAGE.img] [--timeout SECONDS]
#
# Uses IMAGE (default: the newest image/out/qemu-arm64 build) and the .raucb
# beside it. The test opts
# in to SSH the way an owner would (a throwaway key in meshnode/authorized_keys
# on the boot partition of the test's copy), forwards 127.0.0.1:<port> -> 22
# and :8080 with qemu user-mode hostfwd (restrict=on: no other networking),
# copies the bundle in, runs `rauc install`, reboots, and reads the console:
#   boot 1: slot A committed, node id X
#   boot 2: GRUB boots slot B (ORDER="B A", B_TRY=1), same node id X, health
#           commits slot B.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
timeout=1500 img=''
while [ $# -gt 0 ]; do
  case $1 in --timeout) timeout=$2; shift 2 ;; *) img=$1; shift ;; esac
done
[ -n "$img" ] || img=$(ls -t "$OUT_DIR"/qemu-arm64/meshnode-*-qemu-arm64.img | head -n1)
bundle=${img%.img}.raucb
[ -f "$img" ] && [ -f "$bundle" ] || die "build the qemu-arm64 image first"
need_tools qemu-system-aarch64 python3 ssh scp ssh-keygen mcopy

dir=$OUT_DIR/update-test
rm -rf "$dir"; mkdir -p "$dir"
console=$dir/console.log
cp /usr/share/AAVMF/AAVMF_VARS.fd "$dir/vars.fd"
cp --sparse=always "$img" "$dir/disk.img"
truncate -s +1G "$dir/disk.img"
ssh-keygen -q -t ed25519 -N '' -C update-test -f "$dir/key"
MTOOLS_SKIP_CHECK=1 mcopy -i "$dir/disk.img@@1M" "$dir/key.pub" ::meshnode/authorized_keys
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
sport=$(free_port) wport=$(free_port)

qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 2048 \
  -drive if=pflash,format=raw,readonly=on,file=/usr/share/AAVMF/AAVMF_CODE.fd \
  -drive if=pflash,format=raw,file="$dir/vars.fd" \
  -drive if=none,id=hd0,file="$dir/disk.img",format=raw -device virtio-blk-pci,drive=hd0 \
  -netdev user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:"$sport"-:22,hostfwd=tcp:127.0.0.1:"$wport"-:8080 \
  -device virtio-net-pci,netdev=n0,romfile= -device virtio-rng-pci \
  -display none -monitor none -serial file:"$console" &
qpid=$!
trap 'kill "$qpid" 2>/dev/null || true; wait "$qpid" 2>/dev/null || true; rm -f "$dir/disk.img"' EXIT
t0=$(now_s)
wait_for() { # PATTERN [COUNT]: until the console has COUNT lines matching
  local n=${2:-1}
  while [ "$(grep -acE "$1" "$console" 2>/dev/null || true)" -lt "$n" ]; do
    kill -0 "$qpid" 2>/dev/null || die "qemu exited (console: $console)"
    [ $(( $(now_s) - t0 )) -lt "$timeout" ] || die "timeout waiting for: $1 (console: $console)"
    sleep 3
  done
}
g() { ssh -q -i "$dir/key" -p "$sport" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 root@127.0.0.1 "$@"; }

log "boot 1 (slot A)"
wait_for 'MESHNODE-HEALTH ok .*slot=A committed=yes'
id1=$(grep -aoE 'MESHNODE-READY node=mn[a-z2-7]+' "$console" | head -n1 | sed 's/.*node=//')
log "  slot A healthy after $(( $(now_s) - t0 )) s, node $id1; copying the bundle over SSH"
scp -q -i "$dir/key" -P "$sport" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null "$bundle" root@127.0.0.1:/data/update.raucb
t=$(now_s)
g rauc install /data/update.raucb > "$dir/install.log" 2>&1 || { cat "$dir/install.log"; die "rauc install failed"; }
log "  rauc install took $(( $(now_s) - t )) s"
g rauc status > "$dir/status-before-reboot.txt" 2>&1 || true
g rm -f /data/update.raucb
g systemctl reboot || true

log "boot 2 (slot B)"
wait_for 'meshnode: booting slot B .*B_TRY=1'
wait_for 'MESHNODE-HEALTH ok' 2
id2=$(grep -aoE 'MESHNODE-READY node=mn[a-z2-7]+ .*slot=B' "$console" | head -n1 | sed 's/.*node=\(mn[a-z2-7]*\).*/\1/')
g rauc status > "$dir/status-after.txt" 2>&1 || true
pass=0 fail=0
check() { if [ "$2" = 0 ]; then pass=$((pass + 1)); echo "ok   $1"; else fail=$((fail + 1)); echo "FAIL $1"; fi; }
check "rauc install into slot B" "$(grep -q 'Installing .*succeeded\|Installing.*done\|succeeded' "$dir/install.log"; echo $?)"
check "GRUB booted slot B first (attempt counted)" "$(grep -aqE 'meshnode: booting slot B \(ORDER=B A .*B_TRY=1' "$console"; echo $?)"
check "slot B healthy and committed" "$(grep -aqE 'MESHNODE-HEALTH ok .*slot=B committed=yes' "$console"; echo $?)"
check "identity survived the update ($id1)" "$( [ -n "$id2" ] && [ "$id1" = "$id2" ]; echo $?)"
check "no new identity on boot 2" "$( [ "$(grep -ac 'new node identity' "$console")" = 1 ]; echo $?)"
log "update test: $pass passed, $fail failed in $(( $(now_s) - t0 )) s"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
