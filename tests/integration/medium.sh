# medium.sh - a USB-stick-like medium for integration tests: a FAT32 or
# exFAT image file mounted read-write through FUSE; sourced, not run.
#
#   . "$(dirname "$0")/lib.sh"
#   . "$(dirname "$0")/medium.sh"
#   medium_available fat || it_skip "no FAT medium"
#   it_at_exit medium_cleanup_all
#   medium_make fat "$IT_TMP/stick.img" 64 "$IT_TMP/stick" || it_fail ...
#
# Kinds: fat (FAT32 by mkfs.fat, no label, served by fusefat -o rw+ on
# the image file) and exfat (mkfs.exfat, label FERRY, served by
# mount.exfat-fuse on a loop device: it always mounts as fuseblk, which
# wants a block device, so exfat needs root and a free loop device).
# Packages: dosfstools fusefat exfatprogs exfat-fuse (fuse comes with them).
#
# Every mount is recorded in $MEDIUM_LIST (a file, so that calls from
# subshells count too) and medium_cleanup_all undoes what is left; with
# lib.sh, register it with it_at_exit so that it runs before $IT_TMP is
# removed.  Without lib.sh: trap medium_cleanup_all EXIT.
#
# Functions (0 on success; on failure one line on stderr and non-zero):
#   medium_available KIND            can KIND be made and mounted here?
#   medium_make KIND IMAGE SIZE_MB MOUNTPOINT
#                                    new sparse image, formatted, mounted
#   medium_mount KIND IMAGE MOUNTPOINT
#                                    mount an existing image
#   medium_unmount MOUNTPOINT        flush, unmount, wait for the daemon
#   medium_remount KIND IMAGE MOUNTPOINT
#                                    unmount and mount again ("carried to
#                                    another machine")
#   medium_pull MOUNTPOINT           yank the stick: SIGKILL the daemon,
#                                    lazy unmount (see the comment there)
#   medium_fsck KIND IMAGE           check and repair an unmounted image;
#                                    0 also when it repaired something
#                                    ($MEDIUM_FSCK_OUT: what fsck said)
#   medium_daemon_pid MOUNTPOINT     pid of the FUSE daemon serving it
#   medium_fat_next_free IMAGE BYTES on an unmounted fat image: the next
#                                    cluster fusefat allocates is the
#                                    first at or past BYTES into the
#                                    image, as after writing that much
#   medium_cleanup_all               unmount (or pull) all our mounts
#
# Mountpoints and image paths must hold no tab or newline.
#
# Seen on Debian 12 (fusefat 0.1a-3, exfat-fuse 1.3.0), both case-
# insensitive ("a" finds "A"; O_EXCL create of "a" gives EEXIST):
#   fusefat: fsync is a no-op (data is written through at once anyway);
#   opening an existing file with O_TRUNC corrupts it (fsck.fat: "free
#   cluster", size kept, chain lost): write a new name and rename over;
#   writing through a name in another case, a full medium and files
#   reaching 2 GiB all fail with EPERM (not ENOSPC/EFBIG), the last one
#   also breaking the file's cluster chain; pwrite at >= 4 GiB wraps;
#   a folder cluster at or past 2 GiB into the image cannot be read: a
#   folder made once the next free cluster is there (fusefat allocates
#   on from FSINFO's next-free cluster and never goes back to freed
#   ones: after 2 GiB of files, even deleted), or one that grows a
#   cluster there, lists empty and creating a file in it gives ENOENT.
#   exfat-fuse: a file's size reaches the medium only on fsync/close.

MEDIUM_LIST=${MEDIUM_LIST:-}
if [ -z "$MEDIUM_LIST" ]; then
	if [ -n "${IT_TMP:-}" ] && [ -d "${IT_TMP:-}" ]; then
		MEDIUM_LIST=$IT_TMP/.media
		: >>"$MEDIUM_LIST"
	else
		MEDIUM_LIST=$(mktemp "${TMPDIR:-/tmp}/ferry-media.XXXXXX") || {
			echo "medium.sh: cannot make a temporary file" >&2
			# shellcheck disable=SC2317 # exit: if run, not sourced
			return 1 2>/dev/null || exit 99
		}
	fi
fi

medium__err() {
	echo "medium: $*" >&2
	return 1
}

# The absolute, symlink-free path of $1 (which need not exist yet): the
# daemon's fds and /proc/self/mounts show that one.
medium__abs() {
	readlink -m -- "$1"
}

medium__have() {
	command -v "$1" >/dev/null 2>&1 ||
		[ -x "/sbin/$1" ] || [ -x "/usr/sbin/$1" ]
}

# Run a tool that may live in /sbin while PATH lacks it.
medium__run() {
	PATH=$PATH:/usr/sbin:/sbin "$@"
}

medium_available() {
	case ${1:-} in
	fat)
		for ma_t in mkfs.fat fsck.fat fusefat; do
			medium__have $ma_t || {
				medium__err "$ma_t is missing (scripts/install-deps)"
				return 1
			}
		done
		;;
	exfat)
		for ma_t in mkfs.exfat fsck.exfat mount.exfat-fuse losetup blockdev; do
			medium__have $ma_t || {
				medium__err "$ma_t is missing (scripts/install-deps)"
				return 1
			}
		done
		[ "$(id -u)" -eq 0 ] ||
			{ medium__err "exfat needs root (loop device, fuseblk)"; return 1; }
		medium__run losetup -f >/dev/null 2>&1 ||
			{ medium__err "no free loop device"; return 1; }
		;;
	*)
		medium__err "unknown kind '${1:-}' (fat or exfat)"
		return 1
		;;
	esac
	if ! [ -c /dev/fuse ] || ! [ -r /dev/fuse ] || ! [ -w /dev/fuse ]; then
		medium__err "/dev/fuse is missing or not usable"
		return 1
	fi
	[ "$(id -u)" -eq 0 ] || medium__have fusermount || medium__have fusermount3 ||
		{ medium__err "fusermount is missing"; return 1; }
	return 0
}

# medium__record MOUNTPOINT: its line "MP<tab>KIND<tab>IMAGE<tab>BACKING".
medium__record() {
	awk -F '\t' -v mp="$1" '$1 == mp { l = $0 } END { if (l != "") print l }' \
		"$MEDIUM_LIST"
}

medium__forget() {
	awk -F '\t' -v mp="$1" '$1 != mp' "$MEDIUM_LIST" >"$MEDIUM_LIST.new" &&
		mv -f "$MEDIUM_LIST.new" "$MEDIUM_LIST"
}

# The pid of the FUSE daemon that holds BACKING (the image for fat, the
# loop device for exfat) open; nothing if there is none.
medium__pid_of() {
	# -lname takes a pattern: quote its special characters.
	mp_pat=$(printf '%s\n' "$1" | sed 's/[][*?\\]/\\&/g')
	find /proc/[0-9]*/fd -maxdepth 1 -lname "$mp_pat" 2>/dev/null |
		sed 's|^/proc/\([0-9]*\)/.*|\1|' | while IFS= read -r mp_pid; do
		case $(cat "/proc/$mp_pid/comm" 2>/dev/null) in
		fusefat | mount.exfat* | exfat-fuse*)
			echo "$mp_pid"
			break
			;;
		esac
	done | grep .
}

medium_daemon_pid() {
	mdp_mp=$(medium__abs "$1")
	mdp_rec=$(medium__record "$mdp_mp")
	[ -n "$mdp_rec" ] || { medium__err "$1 is not one of our media"; return 1; }
	medium__pid_of "$(echo "$mdp_rec" | cut -f 4)"
}

medium__alive() {
	[ -r "/proc/$1/stat" ] &&
		[ "$(sed 's/.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null)" != Z ]
}

# medium__wait_gone PID SECS
medium__wait_gone() {
	mwg_i=0
	while medium__alive "$1"; do
		[ $mwg_i -ge $(($2 * 20)) ] && return 1
		sleep 0.05
		mwg_i=$((mwg_i + 1))
	done
	return 0
}

# Is MOUNTPOINT in the mount table (also when its daemon is dead, where
# mountpoint(1) fails)?
medium__in_mounts() {
	awk -v mp="$1" '$2 == mp { f = 1 } END { exit !f }' /proc/self/mounts
}

medium__umount() {
	if [ "$(id -u)" -eq 0 ]; then
		umount "$@" 2>/dev/null && return 0
	fi
	case ${1:-} in
	-l) mu_f=-uz; shift ;;
	*) mu_f=-u ;;
	esac
	fusermount $mu_f "$@" 2>/dev/null || fusermount3 $mu_f "$@" 2>/dev/null
}

medium_make() {
	[ $# -eq 4 ] || { medium__err "usage: medium_make KIND IMAGE SIZE_MB MOUNTPOINT"; return 2; }
	mm_kind=$1
	mm_img=$(medium__abs "$2")
	mm_mb=$3
	case $mm_mb in
	'' | *[!0-9]*) medium__err "size '$mm_mb' is not a number of MB"; return 2 ;;
	esac
	rm -f "$mm_img"
	truncate -s "${mm_mb}M" "$mm_img" ||
		{ medium__err "cannot make $mm_img"; return 1; }
	case $mm_kind in
	fat)
		# 1 KiB clusters below 260 MB, 4 KiB above: fusefat's statvfs
		# counts 1 KiB blocks, so with 512-byte clusters it says 0 free.
		# Below ~66 MB that is fewer than the 65525 clusters FAT32 asks
		# for: mkfs.fat warns, Linux, fsck.fat and fusefat go by the
		# boot sector and take it as FAT32 all the same.
		# No volume label: fusefat lists the label's root entry as a
		# file ("FERRY" would then block a "ferry" directory), and a
		# label in the boot sector alone makes fsck.fat complain.
		[ "$mm_mb" -ge 34 ] || { medium__err "FAT32 needs >= 34 MB here"; return 1; }
		mm_spc=2
		[ "$mm_mb" -ge 260 ] && mm_spc=8
		mm_out=$(medium__run mkfs.fat -F 32 -s $mm_spc "$mm_img" 2>&1) ||
			{ medium__err "mkfs.fat failed: $mm_out"; return 1; }
		;;
	exfat)
		mm_out=$(medium__run mkfs.exfat -L FERRY "$mm_img" 2>&1) ||
			{ medium__err "mkfs.exfat failed: $(echo "$mm_out" | tail -n 2)"; return 1; }
		;;
	*)
		medium__err "unknown kind '$mm_kind' (fat or exfat)"
		return 2
		;;
	esac
	medium_mount "$mm_kind" "$mm_img" "$4"
}

medium_mount() {
	[ $# -eq 3 ] || { medium__err "usage: medium_mount KIND IMAGE MOUNTPOINT"; return 2; }
	mo_kind=$1
	mo_img=$(medium__abs "$2")
	mo_mp=$(medium__abs "$3")
	[ -f "$mo_img" ] || { medium__err "no image $mo_img"; return 1; }
	mkdir -p "$mo_mp" || { medium__err "cannot make $mo_mp"; return 1; }
	mountpoint -q "$mo_mp" && { medium__err "$mo_mp is already a mountpoint"; return 1; }
	case $mo_kind in
	fat)
		# rw+ is fusefat's read-write switch (without it, it refuses).
		mo_back=$mo_img
		mo_out=$(fusefat -o rw+ "$mo_img" "$mo_mp" 2>&1) ||
			{ medium__err "fusefat failed: $mo_out"; return 1; }
		;;
	exfat)
		mo_back=$(medium__run losetup -f --show "$mo_img" 2>&1) ||
			{ medium__err "losetup failed: $mo_back"; return 1; }
		mo_out=$(medium__run mount.exfat-fuse "$mo_back" "$mo_mp" 2>&1) || {
			medium__run losetup -d "$mo_back" 2>/dev/null
			medium__err "mount.exfat-fuse failed: $mo_out"
			return 1
		}
		;;
	*)
		medium__err "unknown kind '$mo_kind' (fat or exfat)"
		return 2
		;;
	esac
	printf '%s\t%s\t%s\t%s\n' "$mo_mp" "$mo_kind" "$mo_img" "$mo_back" >>"$MEDIUM_LIST"
	mo_i=0
	until mountpoint -q "$mo_mp"; do
		if [ $mo_i -ge 100 ]; then
			medium_pull "$mo_mp" 2>/dev/null
			medium__err "$mo_mp is not mounted 10 s after $mo_kind mount"
			return 1
		fi
		sleep 0.1
		mo_i=$((mo_i + 1))
	done
	return 0
}

# Unmount cleanly: the daemon writes out what it holds and exits (for
# fuse, not fuseblk, umount returns first: so wait for the daemon).
# Retries for 5 s while busy ($MEDIUM_BUSY_TRIES tenths of a second);
# then fails and leaves the mount recorded (medium_cleanup_all pulls it).
medium_unmount() {
	[ $# -eq 1 ] || { medium__err "usage: medium_unmount MOUNTPOINT"; return 2; }
	un_mp=$(medium__abs "$1")
	un_rec=$(medium__record "$un_mp")
	[ -n "$un_rec" ] || { medium__err "$1 is not one of our media"; return 1; }
	un_back=$(echo "$un_rec" | cut -f 4)
	un_pid=$(medium__pid_of "$un_back")
	sync -f "$un_mp" 2>/dev/null
	un_i=0
	while mountpoint -q "$un_mp"; do
		medium__umount "$un_mp" && break
		if [ $un_i -ge "${MEDIUM_BUSY_TRIES:-50}" ]; then
			medium__err "cannot unmount $un_mp (busy?)"
			return 1
		fi
		sleep 0.1
		un_i=$((un_i + 1))
	done
	if [ -n "$un_pid" ] && ! medium__wait_gone "$un_pid" 30; then
		medium__err "the daemon of $un_mp (pid $un_pid) did not exit in 30 s"
		return 1
	fi
	case $un_back in
	/dev/loop*) medium__run losetup -d "$un_back" 2>/dev/null ;;
	esac
	medium__forget "$un_mp"
	return 0
}

medium_remount() {
	[ $# -eq 3 ] || { medium__err "usage: medium_remount KIND IMAGE MOUNTPOINT"; return 2; }
	if [ -n "$(medium__record "$(medium__abs "$3")")" ]; then
		medium_unmount "$3" || return 1
	fi
	medium_mount "$1" "$2" "$3"
}

# Pull the stick mid-write.  SIGKILL the FUSE daemon, then lazily detach
# the mount; processes using it get ENOTCONN/EIO from then on.
# What is lost: whatever the daemon held only in its own memory.  fusefat
# writes data, chains and sizes at once: only the free count is wrong and
# the dirty bit set.  exfat-fuse keeps sizes and its bitmap until fsync
# or close: a file being written comes back at its last fsynced size.
# The image stays mountable; medium_fsck it first to check it.
# What is NOT simulated: losing the host kernel's page cache or the
# stick's own write cache.  Whatever the daemon had already written to
# the image (or to the loop device: flushed here) reaches the image, so
# a torn write inside one block, or a reordering of writes, never
# happens.  Data that ferry wrote without fsync but that the daemon
# already passed on survives, as it often would not on a real stick.
medium_pull() {
	[ $# -eq 1 ] || { medium__err "usage: medium_pull MOUNTPOINT"; return 2; }
	pu_mp=$(medium__abs "$1")
	pu_rec=$(medium__record "$pu_mp")
	[ -n "$pu_rec" ] || { medium__err "$1 is not one of our media"; return 1; }
	pu_back=$(echo "$pu_rec" | cut -f 4)
	pu_pid=$(medium__pid_of "$pu_back")
	if [ -n "$pu_pid" ]; then
		kill -9 "$pu_pid" 2>/dev/null
		medium__wait_gone "$pu_pid" 10 ||
			medium__err "the daemon of $pu_mp (pid $pu_pid) survived SIGKILL"
	fi
	pu_i=0
	while medium__in_mounts "$pu_mp"; do
		medium__umount -l "$pu_mp" && break
		if [ $pu_i -ge 50 ]; then
			medium__err "cannot detach $pu_mp"
			return 1
		fi
		sleep 0.1
		pu_i=$((pu_i + 1))
	done
	case $pu_back in
	/dev/loop*)
		# What the daemon wrote to the loop device is on the "stick".
		medium__run blockdev --flushbufs "$pu_back" 2>/dev/null
		# Busy (an open file keeps the fuseblk alive): detached when freed.
		medium__run losetup -d "$pu_back" 2>/dev/null
		;;
	esac
	medium__forget "$pu_mp"
	return 0
}

# Check and repair an unmounted image.  Status: 0 clean or repaired,
# 1 not repairable (the fsck output on stderr).
medium_fsck() {
	[ $# -eq 2 ] || { medium__err "usage: medium_fsck KIND IMAGE"; return 2; }
	case $1 in
	fat) fk_out=$(medium__run fsck.fat -a -w "$2" 2>&1) ;;
	exfat) fk_out=$(medium__run fsck.exfat -y "$2" 2>&1) ;;
	*) medium__err "unknown kind '$1' (fat or exfat)"; return 2 ;;
	esac
	fk_rc=$?
	# shellcheck disable=SC2034 # for the caller
	MEDIUM_FSCK_OUT=$fk_out
	# fsck.fat: 1 = errors fixed; fsck.exfat: 1 = errors corrected.
	case $fk_rc in
	0 | 1) return 0 ;;
	esac
	medium__err "fsck of $2 ($1) failed with $fk_rc: $(echo "$fk_out" | tail -n 3)"
	return 1
}

# medium__uint FILE OFFSET N: the N-byte little-endian number there.
medium__uint() {
	od -An -t"u$3" -j"$2" -N"$3" "$1" | tr -d ' '
}

# medium_fat_next_free IMAGE BYTES: set FSINFO's next-free cluster (which
# fusefat starts allocating from) to the first cluster at or past BYTES
# into the image; the image must not be mounted.
medium_fat_next_free() {
	[ $# -eq 2 ] || { medium__err "usage: medium_fat_next_free IMAGE BYTES"; return 2; }
	nf_bps=$(medium__uint "$1" 11 2)
	nf_spc=$(medium__uint "$1" 13 1)
	nf_rsv=$(medium__uint "$1" 14 2)
	nf_nfat=$(medium__uint "$1" 16 1)
	nf_fatsz=$(medium__uint "$1" 36 4)
	nf_fsi=$(medium__uint "$1" 48 2)
	case $nf_bps.$nf_spc.$nf_fsi in
	*[!0-9.]* | .* | *.. | *. | 0.* | *.0.* | *.0)
		medium__err "$1 is not a FAT32 image"
		return 1
		;;
	esac
	nf_data=$(((nf_rsv + nf_nfat * nf_fatsz) * nf_bps))
	nf_cs=$((nf_bps * nf_spc))
	nf_c=$((2 + ($2 - nf_data + nf_cs - 1) / nf_cs))
	# shellcheck disable=SC2059 # the format is the octal bytes
	printf "$(printf '\\%03o\\%03o\\%03o\\%03o' $((nf_c & 255)) \
		$((nf_c >> 8 & 255)) $((nf_c >> 16 & 255)) $((nf_c >> 24 & 255)))" |
		dd of="$1" bs=1 seek=$((nf_fsi * nf_bps + 492)) conv=notrunc \
			status=none
}

# For trap ... EXIT / it_at_exit: unmount everything still recorded,
# pulling what will not unmount.  Never fails.
medium_cleanup_all() {
	[ -f "$MEDIUM_LIST" ] || return 0
	cut -f 1 "$MEDIUM_LIST" | while IFS= read -r ca_mp; do
		[ -n "$ca_mp" ] || continue
		MEDIUM_BUSY_TRIES=10 medium_unmount "$ca_mp" 2>/dev/null ||
			medium_pull "$ca_mp"
	done
	case $MEDIUM_LIST in
	"${IT_TMP:-/nonexistent}"/*) : >"$MEDIUM_LIST" ;;
	*) rm -f "$MEDIUM_LIST" "$MEDIUM_LIST.new"; MEDIUM_LIST= ;;
	esac
	return 0
}
