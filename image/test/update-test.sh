#!/usr/bin/env bash
# Update test (A/B with RAUC and GRUB), on the qemu-arm64 image under
# qemu-system-aarch64 (software emulation):
#
#   image/test/update-test.sh [IMAGE.img] [--timeout SECONDS (5400)] [--no-fallback]
#
# Uses IMAGE (default: the newest image/out/qemu-arm64 build) and the .raucb
# beside it. The test opts in to SSH the way an owner would (a throwaway key
# in meshnode/authorized_keys on the boot partition of the test's copy of
# the image) and reaches the guest only through qemu user-mode hostfwd on
# 127.0.0.1 (restrict=on: no other networking).
#
#   boot 1     slot A comes up healthy and is committed; node id X.
#   update     the build's bundle is copied in and `rauc install`ed: it goes
#              into the inactive slot B; reboot.
#   boot 2     GRUB boots slot B first (attempt counted), same node id X
#              (the data partition survived), health commits slot B.
#   app        (before the update) the agent runs from the app release
#              layout; an app release that cannot start is made current with
#              a pending update whose health deadline passes: systemd keeps
#              restarting it and the agent's ExecStartPre hook puts the
#              image's release back by itself (device-agent/systemd/).
#   fallback   a bundle whose root filesystem cannot start (its /sbin/init
#              exits at once: kernel panic, reboot after panic=30) is
#              installed into the now inactive slot A; reboot. GRUB tries A
#              three times, then falls back to B by itself; B's health check
#              reports the fallback and marks A bad; still node id X.
#   watchdog   a bundle whose system boots but whose agent never becomes
#              healthy (its agent exits at once; health deadline 60 s) goes
#              into slot A: each boot of A, meshnode-health gives up and
#              reboots; after three, GRUB falls back to B, which reports it.
#
# The broken bundles are made here from the image's own slot A (partition
# 2) and signed with the development key (image/cache/keys/dev): the image
# must be a development build.
set -euo pipefail
. "$(dirname "$0")/../lib/common.sh"
# The body is one block: bash reads it whole before running it, so editing
# this file while it runs cannot change a build or test in progress.
{
timeout=5400 img='' fallback=yes
while [ $# -gt 0 ]; do
  case $1 in
    --timeout) timeout=$2; shift 2 ;;
    --no-fallback) fallback=no; shift ;;
    *) img=$1; shift ;;
  esac
done
[ -n "$img" ] || img=$(ls -t "$OUT_DIR"/qemu-arm64/meshnode-*-qemu-arm64.img 2>/dev/null | head -n1 || true)
bundle=${img%.img}.raucb
[ -f "$img" ] && [ -f "$bundle" ] || die "no image and bundle (build one: npm run image:build -- --target qemu-arm64)"
need_tools qemu-system-aarch64 python3 ssh scp ssh-keygen mcopy
# shellcheck disable=SC1091
. "$IMAGE_DIR/targets/qemu-arm64.conf"

dir=$OUT_DIR/update-test
rm -rf "$dir"; mkdir -p "$dir"
console=$dir/console.log
t0=$(now_s)

# The broken bundles (made before booting, on the host's tools chroot).
make_bundle() { # NAME VERSION: slot A's filesystem changed by NAME/debugfs.cmd (files in NAME/), signed
  local w=$dir/$1
  mkdir -p "$w/bundle" "$w/keys"
  dd if="$img" of="$w/bundle/rootfs.ext4" bs=1M skip=$((1 + BOOT_SIZE_MIB)) count="$ROOT_SIZE_MIB" conv=sparse status=none
  printf '[update]\ncompatible=%s\nversion=%s\n\n[bundle]\nformat=verity\n\n[image.rootfs]\nfilename=rootfs.ext4\n' "$COMPATIBLE" "$2" > "$w/bundle/manifest.raucm"
  keys=$("$IMAGE_DIR/keys/make-dev-keys.sh")
  cp "$keys/cert.pem" "$keys/key.pem" "$w/keys/"
  in_tools "$w" sh -ec 'cd /w && debugfs -w -f debugfs.cmd bundle/rootfs.ext4 >debugfs.log 2>&1 &&
    ! grep -qiE "not found|error|cannot|could not" debugfs.log &&
    e2fsck -fn bundle/rootfs.ext4 >/dev/null &&
    rauc bundle --cert keys/cert.pem --key keys/key.pem bundle bundle.raucb >/dev/null 2>&1' \
    || die "could not make the $1 bundle (see $w/debugfs.log)"
  rm -rf "$w/keys" "$w/bundle"
}
if [ "$fallback" = yes ]; then
  need_root
  log "making a bundle whose root filesystem does not start"
  mkdir -p "$dir/broken"
  printf '#!/bin/sh\necho "meshnode-test: this root filesystem is deliberately broken"\nexit 1\n' > "$dir/broken/init"
  printf 'rm /usr/sbin/init\nwrite /w/init /usr/sbin/init\nsif /usr/sbin/init mode 0100755\nsif /usr/sbin/init uid 0\nsif /usr/sbin/init gid 0\n' > "$dir/broken/debugfs.cmd"
  make_bundle broken 0.0.0-broken
  log "making a bundle whose agent never becomes healthy"
  mkdir -p "$dir/unhealthy"
  printf '#!/bin/sh\necho "meshnode-test: this agent is deliberately broken" >&2\nexit 1\n' > "$dir/unhealthy/meshnode"
  printf '[Service]\nEnvironment=MESHNODE_HEALTH_DEADLINE_S=60\n' > "$dir/unhealthy/health.conf"
  {
    printf 'rm /opt/meshnode/app/bin/meshnode\nwrite /w/meshnode /opt/meshnode/app/bin/meshnode\n'
    printf 'sif /opt/meshnode/app/bin/meshnode mode 0100755\nsif /opt/meshnode/app/bin/meshnode uid 0\nsif /opt/meshnode/app/bin/meshnode gid 0\n'
    printf 'mkdir /etc/systemd/system/meshnode-health.service.d\nwrite /w/health.conf /etc/systemd/system/meshnode-health.service.d/test.conf\n'
    printf 'sif /etc/systemd/system/meshnode-health.service.d/test.conf mode 0100644\n'
  } > "$dir/unhealthy/debugfs.cmd"
  make_bundle unhealthy 0.0.0-unhealthy
fi

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
tb=$(now_s)

# Console helpers: `since` is a byte offset, so each phase only reads what
# the guest printed after it began.
since=0
mark_phase() { since=$(stat -c %s "$console" 2>/dev/null || echo 0); }
phase_log() { tail -c +"$((since + 1))" "$console" 2>/dev/null | tr -d '\r'; }
count() { phase_log | grep -acE "$1" || true; }
wait_for() { # PATTERN [COUNT]: until this phase's console has COUNT matching lines
  local n=${2:-1}
  while [ "$(count "$1")" -lt "$n" ]; do
    kill -0 "$qpid" 2>/dev/null || die "qemu exited (console: $console)"
    [ $(( $(now_s) - t0 )) -lt "$timeout" ] || die "timeout after $timeout s waiting for: $1 (console: $console)"
    sleep 2
  done
}
node_id() { phase_log | grep -aoE 'MESHNODE-READY node=mn[a-z2-7]+' | tail -n1 | sed 's/.*node=//'; }
ssh_opts=(-q -i "$dir/key" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=20 -o BatchMode=yes
  -o ServerAliveInterval=10 -o ServerAliveCountMax=6)
g() { ssh "${ssh_opts[@]}" -p "$sport" root@127.0.0.1 "$@"; }
put() { scp "${ssh_opts[@]}" -P "$sport" "$1" root@127.0.0.1:"$2"; }
install_bundle() { # FILE LABEL: copy in, rauc install, then reboot
  local t
  put "$1" /data/update.raucb
  t=$(now_s)
  g rauc install /data/update.raucb > "$dir/install-$2.log" 2>&1 || { cat "$dir/install-$2.log" >&2; die "rauc install ($2) failed"; }
  log "  rauc install ($2) took $(( $(now_s) - t )) s"
  g rm -f /data/update.raucb
  g rauc status > "$dir/status-$2.txt" 2>&1 || true
  mark_phase
  # Reboot as the agent does after a system update: a request from the
  # unprivileged user, carried out by meshnode-reboot.path (root).
  # (one word: ssh joins the arguments and the guest's shell splits them again)
  g runuser -u meshnode -- /usr/lib/meshnode/request-reboot "update-test-$2" || die "request-reboot failed"
}

pass=0 fail=0
check() { # NAME RESULT(0=ok) [DETAIL]
  if [ "$2" = 0 ]; then pass=$((pass + 1)); printf 'ok   %s %s\n' "$1" "${3:-}"; else fail=$((fail + 1)); printf 'FAIL %s %s\n' "$1" "${3:-}"; fi
}

log "boot 1 (slot A)"
wait_for 'MESHNODE-HEALTH ok .*slot=A committed=yes'
id1=$(node_id)
log "  slot A healthy after $(( $(now_s) - tb )) s, node $id1"
check "boot 1: slot A healthy and committed, new identity" "$( [ -n "$id1" ] && [ "$(count 'new node identity')" = 1 ]; echo $?)" "$id1"

log "app: the release layout, and a release that cannot start rolled back by the hook"
agent_version=$(agent_version)
r=/data/meshnode/releases
check "app: current -> the image agent's release" "$( [ "$(g readlink $r/current)" = "releases/$agent_version" ] && [ "$(g readlink $r/releases/$agent_version)" = /opt/meshnode/app ]; echo $?)" "(releases/$agent_version -> /opt/meshnode/app)"
env_line=$(g systemctl show -P Environment meshnode.service)
check "app: the service has the OTA settings and the recovery hook" "$(echo "$env_line" | grep -q 'MESHNODE_RELEASE_ROOT=/data/meshnode/releases' && echo "$env_line" | grep -q 'MESHNODE_SYSTEM_UPDATES=rauc' && g systemctl show -P ExecStartPre meshnode.service | grep -q meshnode-ota-recover.mjs; echo $?)" ""
ta=$(now_s)
# The pending update's deadline is 40 s away: the broken release is restarted until then.
g "set -e; install -d -o meshnode -g meshnode $r/releases/9.9.9/bin
  printf '#!/bin/sh\necho meshnode-test: release 9.9.9 cannot start >&2\nexit 3\n' > $r/releases/9.9.9/bin/meshnode
  chmod 0755 $r/releases/9.9.9/bin/meshnode; chown meshnode:meshnode $r/releases/9.9.9/bin/meshnode
  printf '{\"version\":1,\"pending\":{\"from\":\"$agent_version\",\"to\":\"9.9.9\",\"deadline\":%s}}\n' \$(( (\$(date +%s) + 40) * 1000 )) > $r/ota-state.json
  chown meshnode:meshnode $r/ota-state.json
  ln -sfn releases/9.9.9 $r/.current-test && chown -h meshnode:meshnode $r/.current-test && mv -T $r/.current-test $r/current
  systemctl restart meshnode.service"
rolled=no
while [ $(( $(now_s) - ta )) -lt 600 ]; do
  if [ "$(g readlink $r/current)" = "releases/$agent_version" ] && [ "$(g systemctl is-active meshnode.service)" = active ]; then rolled=yes; break; fi
  sleep 5
done
ta=$(( $(now_s) - ta ))
restarts=$(g systemctl show -P NRestarts meshnode.service)
g cat $r/ota-state.json > "$dir/ota-state-app.json" 2>&1 || true
check "app: the broken release was rolled back by the recovery hook" "$( [ "$rolled" = yes ] && grep -q '"outcome":"rolled_back"' "$dir/ota-state-app.json" && [ "$restarts" -ge 2 ]; echo $?)" "($ta s, $restarts restarts of the broken release; $(head -c 200 "$dir/ota-state-app.json"))"
g rm -rf $r/releases/9.9.9

log "update: the build's bundle into the inactive slot"
tu=$(now_s)
install_bundle "$bundle" good
check "rauc install of the build's bundle" "$(grep -qiE 'succeeded' "$dir/install-good.log"; echo $?)" "$(grep -iE 'succeeded|installing' "$dir/install-good.log" | tail -n1)"
log "boot 2 (slot B)"
wait_for 'MESHNODE-HEALTH ok'
check "reboot: the agent user's request rebooted the box (meshnode-reboot.path)" "$(count "meshnode-reboot: rebooting at the agent's request \(update-test-good\)" | grep -qx 1; echo $?)"
id2=$(node_id)
tu=$(( $(now_s) - tu ))
log "  slot B healthy $tu s after the install began"
check "boot 2: GRUB booted slot B first, attempt counted" "$(count 'meshnode: booting slot B \(ORDER=B A .*B_TRY=1' | grep -qx '[1-9][0-9]*'; echo $?)"
check "boot 2: slot B healthy and committed" "$(count 'MESHNODE-HEALTH ok .*slot=B committed=yes fallback=no' | grep -qx '[1-9][0-9]*'; echo $?)"
check "boot 2: identity survived the update" "$( [ -n "$id2" ] && [ "$id1" = "$id2" ]; echo $?)" "$id2"
check "boot 2: no new identity" "$( [ "$(count 'new node identity')" = 0 ]; echo $?)"
g rauc status > "$dir/status-after-update.txt" 2>&1 || true

if [ "$fallback" = yes ]; then
  log "fallback: a bundle that does not boot, into the inactive slot A"
  tf=$(now_s)
  install_bundle "$dir/broken/bundle.raucb" broken
  check "rauc install of the broken bundle" "$(grep -qiE 'succeeded' "$dir/install-broken.log"; echo $?)"
  wait_for 'MESHNODE-HEALTH ok'
  id3=$(node_id)
  tf=$(( $(now_s) - tf ))
  log "  back on slot B $tf s after the install began"
  tries=$(count 'meshnode: booting slot A')
  check "fallback: GRUB tried slot A three times" "$( [ "$tries" = 3 ] && [ "$(count 'deliberately broken')" -ge 1 ]; echo $?)" "($tries boots of slot A)"
  check "fallback: GRUB then booted slot B by itself" "$(count 'meshnode: booting slot B \(ORDER=A B .*A_TRY=3' | grep -qx '[1-9][0-9]*'; echo $?)"
  check "fallback: slot B healthy, reports the fallback, marks A bad" "$(count 'MESHNODE-HEALTH ok .*slot=B committed=yes fallback=A' | grep -qx '[1-9][0-9]*'; echo $?)"
  check "fallback: identity still the same" "$( [ -n "$id3" ] && [ "$id1" = "$id3" ]; echo $?)" "$id3"
  g rauc status > "$dir/status-after-fallback.txt" 2>&1 || true
  check "fallback: RAUC sees slot A bad, B booted" "$(grep -qE 'bad' "$dir/status-after-fallback.txt" && grep -qiE 'booted' "$dir/status-after-fallback.txt"; echo $?)"
  g grub-editenv /boot/firmware/grub/grubenv list > "$dir/grubenv-after-fallback.txt" 2>&1 || true
  check "fallback: next boot goes to B (ORDER=B A, A_OK=0)" "$(grep -qx 'ORDER=B A' "$dir/grubenv-after-fallback.txt" && grep -qx 'A_OK=0' "$dir/grubenv-after-fallback.txt"; echo $?)" "$(paste -sd' ' "$dir/grubenv-after-fallback.txt")"

  log "watchdog: a system whose agent never becomes healthy, into the inactive slot A"
  tw=$(now_s)
  install_bundle "$dir/unhealthy/bundle.raucb" unhealthy
  wait_for 'MESHNODE-HEALTH ok'
  id4=$(node_id)
  tw=$(( $(now_s) - tw ))
  log "  back on slot B $tw s after the install began"
  check "watchdog: each boot of A gave up and rebooted" "$( [ "$(count 'meshnode: booting slot A')" = 3 ] && [ "$(count 'meshnode-health: FAILED: .*rebooting \(unhealthy boot [1-3] of at most 6')" = 3 ]; echo $?)" "($(count 'meshnode: booting slot A') boots of A, $(count 'meshnode-health: FAILED') health failures)"
  check "watchdog: GRUB then booted slot B, which reports the fallback" "$(count 'MESHNODE-HEALTH ok .*slot=B committed=yes fallback=A' | grep -qx '[1-9][0-9]*'; echo $?)"
  check "watchdog: identity kept, unhealthy-boot count reset" "$( [ -n "$id4" ] && [ "$id1" = "$id4" ] && ! g test -e /boot/firmware/meshnode-unhealthy-boots; echo $?)" "$id4"
fi
log "update test: $pass passed, $fail failed in $(( $(now_s) - t0 )) s (app rollback: ${ta} s; A/B update to healthy: ${tu} s${tf:+, fallback to healthy: ${tf} s}${tw:+, watchdog fallback to healthy: ${tw} s}; console: $console)"
echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
exit
}
