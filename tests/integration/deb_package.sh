#!/bin/sh
# deb_package.sh - the Debian packages, built, installed, used, purged:
#  - `dpkg-buildpackage -us -uc -b` on a copy of the checked-out files
#    (git ls-files) builds ferry, libferry0 and libferry-dev;
#  - lintian finds no error in them (its warnings are printed);
#  - `dpkg -i`: the system user ferry (home /var/lib/ferry), a node in
#    /var/lib/ferry made by postinst as ferry (mode 0700), ferryd in
#    /usr/sbin, the unit with ExecStart=/usr/sbin/ferryd, man pages,
#    bash completion, ferry.pc; a program built with
#    `pkg-config --cflags --libs ferry` runs against libferry.so.0;
#  - ferryd started as the user ferry with the packaged configuration
#    (as the unit would: systemd is not PID 1 here) serves a user of the
#    group ferry through /run/ferry/ferry.sock (send, recv, the
#    completion's queue names) and refuses a user outside it;
#  - `dpkg --purge`: the programs and /var/lib/ferry are gone; the user
#    ferry stays (Debian keeps system users), and is removed by this test
#    if it made it.
# Slow (a whole build): runs only with FERRY_TEST_DEB=1 or
# FERRY_TEST_LONG=1, as root, on a Debian with debhelper, dpkg-dev and the
# build dependencies; skipped (77) otherwise.  Changes the system while it
# runs (packages, a user), and refuses to start where ferry is installed.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
case ${FERRY_TEST_DEB:-0} in
'' | 0 | no | false)
	[ "$IT_LONG" = 1 ] ||
		it_skip "slow (builds the packages): set FERRY_TEST_DEB=1 or FERRY_TEST_LONG=1"
	;;
esac
[ "$(id -u)" -eq 0 ] || it_skip "needs root (dpkg -i, a user)"
for t in dpkg-buildpackage dh dpkg-checkbuilddeps git setpriv useradd; do
	command -v $t >/dev/null 2>&1 ||
		it_skip "needs $t (apt-get install debhelper dpkg-dev git)"
done
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
git -C "$src" rev-parse --git-dir >/dev/null 2>&1 ||
	it_skip "needs a git checkout (it packages the files git knows)"
dpkg -s ferry >/dev/null 2>&1 || dpkg -s libferry0 >/dev/null 2>&1 ||
	dpkg -s libferry-dev >/dev/null 2>&1
[ $? -eq 0 ] && it_skip "a ferry package is installed here: not replacing it"
[ -e /var/lib/ferry ] && it_skip "/var/lib/ferry exists: not touching it"
t_start=$(it_now_ms)

# --- build
ver=$(sed -n '1s/^ferry (\([^)]*\)).*/\1/p' "$src/debian/changelog")
[ -n "$ver" ] || it_harness "no version in debian/changelog"
work=$T/build
tree=$work/ferry-$ver
mkdir -p "$tree" || it_harness "mkdir"
(cd "$src" && git ls-files -z | xargs -0 cp -a --parents -t "$tree") ||
	it_harness "cannot copy the tree"
(cd "$tree" && dpkg-checkbuilddeps) >"$T/deps.out" 2>&1 ||
	it_skip "build dependencies missing: $(cat "$T/deps.out")"
t0=$(it_now_ms)
(cd "$tree" && DEB_BUILD_OPTIONS="parallel=2 ${DEB_BUILD_OPTIONS:-}" \
	dpkg-buildpackage -us -uc -b) >"$T/build.log" 2>&1 ||
	it_fail "dpkg-buildpackage failed: $(tail -n 30 "$T/build.log")"
it_ok "dpkg-buildpackage -us -uc -b ($(($(it_now_ms) - t0)) ms)"
arch=$(dpkg --print-architecture)
debs=""
for p in ferry libferry0 libferry-dev; do
	d=$work/${p}_${ver}_$arch.deb
	[ -f "$d" ] || it_fail "no $d: $(ls "$work")"
	debs="$debs $d"
done
dpkg-deb -c "$work/ferry_${ver}_$arch.deb" >"$T/ferry.list"
for f in ./usr/sbin/ferryd ./usr/bin/ferry ./lib/systemd/system/ferryd.service \
	./usr/share/man/man8/ferryd.8.gz ./usr/share/man/man1/ferry.1.gz \
	./usr/share/man/man5/ferry.conf.5.gz \
	./usr/share/bash-completion/completions/ferry; do
	grep -q " $f\$" "$T/ferry.list" || it_fail "ferry lacks $f"
done
dpkg-deb -c "$work/libferry-dev_${ver}_$arch.deb" >"$T/dev.list"
for f in ferry.h libferry.a libferry.so pkgconfig/ferry.pc; do
	grep -q "/$f\( -> .*\)\{0,1\}\$" "$T/dev.list" ||
		it_fail "libferry-dev lacks $f"
done
grep -q '/libferry\.so\.0 ' "$T/dev.list" && it_fail "libferry-dev holds libferry.so.0"
dpkg-deb -c "$work/libferry0_${ver}_$arch.deb" | grep -q '/libferry\.so\.0 ' ||
	it_fail "libferry0 lacks libferry.so.0"
it_ok "ferry, libferry0 and libferry-dev hold what they should"

if command -v lintian >/dev/null 2>&1; then
	# shellcheck disable=SC2086
	lintian $debs >"$T/lintian.out" 2>&1
	grep -q '^E: ' "$T/lintian.out" &&
		it_fail "lintian errors: $(grep '^E: ' "$T/lintian.out")"
	it_ok "lintian: no errors, $(grep -c '^W: ' "$T/lintian.out") warnings"
	sed -n 's/^W: /# lintian W: /p' "$T/lintian.out"
else
	it_note "lintian is not installed: not run"
fi

# --- install
user_before=0
getent passwd ferry >/dev/null && user_before=1
group_before=0
getent group ferry >/dev/null && group_before=1
# Run last added first: purge, then the user, its group, /run/ferry.
it_at_exit "rm -rf /run/ferry"
[ $group_before = 1 ] || it_at_exit "groupdel ferry 2>/dev/null"
[ $user_before = 1 ] || it_at_exit "userdel ferry 2>/dev/null"
it_at_exit "dpkg --purge ferry libferry-dev libferry0 >/dev/null 2>&1"
# shellcheck disable=SC2086
dpkg -i $debs >"$T/install.log" 2>&1 ||
	it_fail "dpkg -i failed: $(tail -n 20 "$T/install.log")"
it_ok "dpkg -i: $(grep '^ferry: made node' "$T/install.log")"
getent passwd ferry | cut -d: -f6 | grep -qx /var/lib/ferry ||
	it_fail "no system user ferry with home /var/lib/ferry: $(getent passwd ferry)"
expect_eq "owner and mode of /var/lib/ferry" "$(stat -c '%U:%G %a' /var/lib/ferry)" \
	"ferry:ferry 700"
expect_eq "owner of the node's secret" \
	"$(stat -c '%U %a' /var/lib/ferry/identity/secret)" "ferry 600"
grep -q '^socket = /run/ferry/ferry.sock' /var/lib/ferry/ferry.conf ||
	it_fail "the node's socket is not /run/ferry/ferry.sock: $(grep socket /var/lib/ferry/ferry.conf)"
grep -qx 'ExecStart=/usr/sbin/ferryd -c /var/lib/ferry/ferry.conf' \
	/lib/systemd/system/ferryd.service || it_fail "the unit's ExecStart"
grep -qx 'Type=notify' /lib/systemd/system/ferryd.service || it_fail "the unit's Type"
expect_eq "pkg-config --modversion ferry" "$(pkg-config --modversion ferry)" "$ver"
cat >"$T/t.c" <<'EOF'
#include <ferry.h>
#include <stdio.h>
int main(void) { puts(ferry_strerror(FERRY_EPERM)); return 0; }
EOF
# shellcheck disable=SC2046
cc -o "$T/t" "$T/t.c" $(pkg-config --cflags --libs ferry) ||
	it_fail "cannot build against libferry-dev"
ldd "$T/t" | grep -q 'libferry\.so\.0 => /\(usr/\)\{0,1\}lib/' ||
	it_fail "the program does not use the installed libferry.so.0: $(ldd "$T/t")"
"$T/t" >/dev/null || it_fail "a program linked with libferry.so.0 fails"
it_ok "a program built with pkg-config ferry runs against libferry.so.0"

# --- ferryd as the user ferry, with the packaged configuration
install -d -o ferry -g ferry -m 0750 /run/ferry # systemd: RuntimeDirectory=
setpriv --reuid=ferry --regid=ferry --init-groups \
	/usr/sbin/ferryd -c /var/lib/ferry/ferry.conf >"$T/ferryd.log" 2>&1 &
dpid=$!
echo $dpid >>"$T/.pids"
i=0
while [ ! -S /run/ferry/ferry.sock ]; do
	it_alive $dpid || it_fail "ferryd as ferry died: $(cat "$T/ferryd.log")"
	i=$((i + 1))
	[ $i -gt 100 ] && it_fail "no /run/ferry/ferry.sock after 10 s"
	sleep 0.1
done
expect_eq "ferryd's user" "$(awk '/^Uid:/ { print $2 }' /proc/$dpid/status)" \
	"$(id -u ferry)"
useradd --system --no-create-home --shell /usr/sbin/nologin -G ferry \
	"ferryt$$" 2>"$T/useradd.err" || it_harness "useradd: $(cat "$T/useradd.err")"
it_at_exit "userdel ferryt$$ 2>/dev/null; groupdel ferryt$$ 2>/dev/null"
member() {
	env -u FERRY_SOCKET HOME=/nonexistent \
		setpriv --reuid="ferryt$$" --regid="ferryt$$" --init-groups "$@"
}
node=$(member /usr/bin/ferry info --json | json_get node)
[ -n "$node" ] || it_fail "a member of ferry cannot reach the agent"
printf 'through the package' | member /usr/bin/ferry send "$node/inbox" >/dev/null ||
	it_fail "a member of ferry cannot send"
got=$(member bash -c '. /usr/share/bash-completion/completions/ferry
	COMP_WORDS=(ferry recv in); COMP_CWORD=2; _ferry; echo "${COMPREPLY[*]}"')
expect_eq "the installed completion names the queue" "$got" inbox
expect_eq "received by a member of ferry" "$(member /usr/bin/ferry recv inbox)" \
	"through the package"
setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/ferry \
	--socket /run/ferry/ferry.sock info >/dev/null 2>"$T/outsider.err"
rc=$?
[ $rc -eq 0 ] && it_fail "a user outside the group ferry reached the agent"
expect_eq "exit status of ferry info outside the group (permission denied)" $rc 5
it_note "outside the group: $(head -n 1 "$T/outsider.err")"
kill -TERM $dpid
wait $dpid
expect_eq "ferryd's exit status after SIGTERM" $? 0

# --- purge
dpkg --purge ferry libferry-dev libferry0 >"$T/purge.log" 2>&1 ||
	it_fail "dpkg --purge failed: $(tail -n 20 "$T/purge.log")"
for f in /usr/sbin/ferryd /usr/bin/ferry /var/lib/ferry /lib/systemd/system/ferryd.service \
	/etc/systemd/system/multi-user.target.wants/ferryd.service; do
	[ -e "$f" ] && it_fail "$f is still there after the purge"
done
getent passwd ferry >/dev/null ||
	it_fail "the purge removed the user ferry (Debian keeps system users)"
it_ok "dpkg --purge: programs and /var/lib/ferry gone, the user ferry kept"
it_note "deb_package took $((($(it_now_ms) - t_start) / 1000)) s"
it_pass
