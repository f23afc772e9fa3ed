# shellcheck shell=bash
# Shared settings and helpers for the MeshNode image scripts. Sourced, not run.

IMAGE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPO_ROOT=$(cd "$IMAGE_DIR/.." && pwd)
OUT_DIR=${MESHNODE_IMAGE_OUT:-$IMAGE_DIR/out}
CACHE_DIR=${MESHNODE_IMAGE_CACHE:-$IMAGE_DIR/cache}
SUITE=trixie
MIRROR=${MESHNODE_DEBIAN_MIRROR:-http://deb.debian.org/debian}
export LC_ALL=C.UTF-8 TZ=UTC
umask 022

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { printf 'image: %s\n' "$*" >&2; exit 1; }

# Seconds since an arbitrary start, for the timings the build prints.
now_s() { date +%s; }

# The agent's version (device-agent/package.json): the app release the
# image ships.
agent_version() {
  sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$REPO_ROOT/device-agent/package.json" | head -n1
}
# The version in file names: the agent's, unless MESHNODE_IMAGE_VERSION.
image_version() {
  if [ -n "${MESHNODE_IMAGE_VERSION:-}" ]; then echo "$MESHNODE_IMAGE_VERSION"; return; fi
  agent_version
}

# SOURCE_DATE_EPOCH: the caller's, else the time of the last commit touching
# the image's inputs (so unrelated commits do not change the image), else a
# fixed date when there is no git history.
default_source_date_epoch() {
  local t=''
  if command -v git >/dev/null && git -C "$REPO_ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    t=$(git -C "$REPO_ROOT" log -1 --format=%ct -- image device-agent protocol package-lock.json 2>/dev/null || true)
  fi
  echo "${t:-1767225600}"
}

need_root() {
  [ "$(id -u)" = 0 ] || die "run as root (mmdebstrap --mode=root, chroot and binfmt registration need it)"
}

need_tools() {
  local missing=() t
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} = 0 ] || die "missing host tools: ${missing[*]} (see image/README.md, 'Build host')"
}

# qemu-user for arm64 in binfmt_misc (Debian's qemu-user-static ships the
# rule; the F flag makes it work inside chroots).
ensure_binfmt() {
  local bm=/proc/sys/fs/binfmt_misc
  if [ ! -e "$bm/register" ]; then
    mount -t binfmt_misc binfmt_misc "$bm" || die "cannot mount binfmt_misc"
  fi
  if [ ! -e "$bm/qemu-aarch64" ]; then
    [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ] || die "qemu-user-static is not installed"
    cat /usr/lib/binfmt.d/qemu-aarch64.conf > "$bm/register"
  fi
  grep -q '^enabled' "$bm/qemu-aarch64" || die "qemu-aarch64 binfmt rule is disabled"
}

# sha256 of a list of files and directory trees (contents and relative paths).
tree_hash() {
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then
      (cd "$p" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    elif [ -e "$p" ]; then
      sha256sum "$p" | sed "s| .*| $(basename "$p")|"
    else
      echo "missing $(basename "$p")"   # not the path: keys must not depend on where the tree is
    fi
  done | sha256sum | cut -c1-16
}

# --- Pinned Debian packages: the lock and the stored repository ------------
#
# A lock is a sorted `package=version` list. To rebuild from it the build
# downloads exactly those .debs once into cache/repo/<arch>-<hash>/, indexes
# them (dpkg-scanpackages) and points mmdebstrap at that directory through a
# copy:// mirror, so apt can only pick the locked versions. Debian's mirror
# keeps only current versions: when one moves, the download fails and says
# which; keep (archive) the stored repository with each release to rebuild it.

apt_arch() { # ARCH [apt-get|apt-cache] ARGS... : the host's apt, pointed at trixie for ARCH
  local arch=$1; shift
  local tool=apt-get
  case ${1:-} in apt-get|apt-cache) tool=$1; shift ;; esac
  local d=$CACHE_DIR/apt/$arch
  mkdir -p "$d/lists/partial" "$d/cache/archives/partial" "$d/etc/preferences.d" "$d/etc/apt.conf.d"
  [ -f "$d/status" ] || : > "$d/status"
  echo "deb [arch=$arch] $MIRROR $SUITE ${COMPONENTS:-main}" > "$d/etc/sources.list"
  "$tool" -q \
    -o Dir::Etc::SourceList="$d/etc/sources.list" -o Dir::Etc::SourceParts=/nonexistent \
    -o Dir::Etc::Preferences="$d/etc/preferences" -o Dir::Etc::PreferencesParts="$d/etc/preferences.d" \
    -o Dir::Etc::Parts="$d/etc/apt.conf.d" \
    -o Dir::State::Lists="$d/lists" -o Dir::State::status="$d/status" -o Dir::Cache="$d/cache" \
    -o APT::Architecture="$arch" -o APT::Architectures="$arch" -o Debug::NoLocking=1 \
    -o APT::Sandbox::User=root -o Acquire::Languages=none "$@"
}

# stored_repo LOCK ARCH -> prints the repository directory (made if needed)
stored_repo() {
  local lock=$1 arch=$2 h dir
  h=$(sha256sum "$lock" | cut -c1-16)
  dir=$CACHE_DIR/repo/$arch-$h
  if [ -f "$dir/.complete" ]; then echo "$dir"; return; fi
  log "stored repository: downloading $(grep -c = "$lock") pinned $arch packages into ${dir#"$IMAGE_DIR"/}"
  rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
  apt_arch "$arch" update >&2 || die "apt-get update for $arch failed"
  local pkgs=() line
  while IFS= read -r line; do
    case $line in ''|'#'*) continue ;; esac
    pkgs+=("$line")
  done < "$lock"
  if ! (cd "$dir.tmp" && apt_arch "$arch" download "${pkgs[@]}" >&2); then
    # Say which pins the mirror no longer has.
    local p have
    for p in "${pkgs[@]}"; do
      have=$(apt_arch "$arch" apt-cache policy "${p%%=*}" 2>/dev/null | sed -n 's/ *Candidate: //p')
      [ "$have" = "${p#*=}" ] || printf '  moved: %s (mirror has %s)\n' "$p" "${have:-nothing}" >&2
    done
    die "the mirror no longer has every version in ${lock#"$IMAGE_DIR"/}: restore the stored repository ($dir) from the release archive, or refresh the lock with image/lock.sh (a new release)"
  fi
  (cd "$dir.tmp" && dpkg-scanpackages --multiversion . /dev/null > Packages 2>/dev/null && gzip -9n -k Packages \
    && apt-ftparchive -o APT::FTPArchive::Release::Suite=meshnode-lock release . > Release)
  touch "$dir.tmp/.complete"
  rm -rf "$dir"; mv "$dir.tmp" "$dir"
  echo "$dir"
}

# The mmdebstrap mirror arguments for a lock (stored repository) or, with no
# lock, the live mirror. COMPONENTS (a target setting, default main) names the
# archive components, e.g. "main non-free-firmware" for the Pi's firmware.
mirror_args() { # LOCK ARCH
  local lock=$1 arch=$2
  if [ -n "${MESHNODE_UNPINNED:-}" ] || [ ! -s "$lock" ]; then
    echo "deb $MIRROR $SUITE ${COMPONENTS:-main}"
  else
    echo "deb [trusted=yes] copy://$(stored_repo "$lock" "$arch") ./"
  fi
}

# The include list from a package list file (comments and blanks dropped).
include_list() { grep -hv '^\s*#' "$@" | tr -s ' \n' '\n' | grep -v '^$' | LC_ALL=C sort -u | paste -sd, -; }

# Compare a manifest (dpkg-query output) with a lock; prints differences.
check_manifest() { # MANIFEST LOCK
  if ! diff -u <(LC_ALL=C sort "$2" | grep -v '^#') <(LC_ALL=C sort "$1") > "$1.diff"; then
    log "package set differs from ${2#"$IMAGE_DIR"/} (see $1.diff)"
    return 1
  fi
  rm -f "$1.diff"
}

# --- The tools chroot (amd64 trixie) ----------------------------------------
# mke2fs must be >= 1.47.2 to read a tarball with -d; bookworm has 1.47.0.

TOOLS_PACKAGES=e2fsprogs,libarchive13t64,dosfstools,mtools,fdisk,xz-utils,bmap-tools,rauc,squashfs-tools,openssl,grub-common,coreutils

tools_chroot() {
  local lock=$IMAGE_DIR/tools.lock h dir
  h=${MESHNODE_UNPINNED:+unpinned-}$(printf '%s\n%s\n' "$TOOLS_PACKAGES" "$(cat "$lock" 2>/dev/null)" | sha256sum | cut -c1-16)
  dir=$CACHE_DIR/tools-$h
  if [ ! -f "$dir/.complete" ]; then
    log "tools chroot: building amd64 $SUITE with $TOOLS_PACKAGES"
    rm -rf "$dir"
    mmdebstrap --quiet --mode=root --variant=apt --architectures=amd64 --include="$TOOLS_PACKAGES" \
      --customize-hook='chroot "$1" dpkg-query -W -f "\${Package}=\${Version}\n" > "$1/manifest"' \
      "$SUITE" "$dir" "$(mirror_args "$lock" amd64)" >&2 || die "tools chroot failed"
    touch "$dir/.complete"
  fi
  echo "$dir"
}

# Run a command in the tools chroot with WORK bind-mounted at /w.
in_tools() { # WORK CMD...
  local work=$1; shift
  local t; t=$(tools_chroot)
  mkdir -p "$t/w" "$t/proc" "$t/dev"
  mount --bind "$work" "$t/w"
  mountpoint -q "$t/proc" || mount -t proc proc "$t/proc"
  mountpoint -q "$t/dev" || mount --bind /dev "$t/dev"
  local rc=0
  chroot "$t" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8 TZ=UTC \
    SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-}" E2FSPROGS_FAKE_TIME="${E2FSPROGS_FAKE_TIME:-}" \
    "$@" || rc=$?
  umount "$t/w" || umount -l "$t/w"
  umount "$t/dev" || umount -l "$t/dev"
  umount "$t/proc" || umount -l "$t/proc"
  return $rc
}
