#!/bin/sh
# sneak_dir.sh - `dir = PATH` file-drop endpoints: nothing happens while
# nothing is mounted at PATH; when a medium with a ferry/ folder is
# mounted there (a FUSE FAT image when this machine can, else a folder),
# both agents import and export by themselves, one log line each; new
# messages go out while it stays mounted; custody comes back both ways.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy
. "$(dirname "$0")/medium.sh"

T=$IT_TMP
M=$T/media
mkdir -p "$M" || it_harness mkdir
make_node alpha
make_node beta
node_peer alpha beta "dir = $M"
node_peer beta alpha "dir = $M"
start_agent alpha
start_agent beta

use_node alpha
id1=$(echo one | "$FERRY" send beta/in) || it_fail send
use_node beta
id2=$(echo two | "$FERRY" send alpha/in) || it_fail send
# An urgent one goes onto another medium now, by hand (the last step).
use_node alpha
id4=$(echo four | "$FERRY" send beta/in --priority 7) || it_fail send
mkdir "$T/stage" || it_harness mkdir
"$FERRY" export "$T/stage" --peer beta --min-priority 7 >/dev/null ||
	it_fail "export to stage"
sleep 3
[ -e "$M/ferry" ] && it_fail "wrote to $M with no medium there"
it_ok "nothing is written while no medium is mounted"

kind=folder
if [ "$(id -u)" = 0 ] && medium_available fat 2>/dev/null; then
	it_at_exit medium_cleanup_all
	medium_make fat "$T/stick.img" 40 "$M" || it_harness "FAT medium"
	kind=fat
fi
mkdir "$M/ferry" || it_fail "mkdir on the $kind medium"
wait_count beta in 1 20 || it_fail "beta: not delivered from the $kind medium"
wait_count alpha in 1 20 || it_fail "alpha: not delivered from the $kind medium"
it_ok "both ways through the $kind medium, by themselves"
use_node alpha
id3=$(echo three | "$FERRY" send beta/in) || it_fail send
wait_count beta in 2 20 || it_fail "a message sent while mounted did not go"
it_ok "a message sent while the medium is mounted goes too"
i=0
while [ $i -lt 100 ]; do
	s1=$(use_node alpha; "$FERRY" status "$id3" --json | json_get status)
	s2=$(use_node beta; "$FERRY" status "$id2" --json | json_get status)
	[ "$s1" = handed ] && [ "$s2" = handed ] && break
	sleep 0.2
	i=$((i + 1))
done
expect_eq "alpha: custody of three came back" "$s1" handed
expect_eq "beta: custody of two came back" "$s2" handed
grep -q "file-drop beta at $M: imported" "$(node_log alpha)" ||
	it_fail "no one-line summary in alpha's log"
it_ok "each run logs a one-line summary"
use_node beta
expect_eq "beta/in: one" "$("$FERRY" recv in)" one
expect_eq "beta/in: three" "$("$FERRY" recv in)" three
"$FERRY" recv in >/dev/null 2>&1 && it_fail "a duplicate at beta"
it_ok "no duplicates"

# A bundle copied onto the watched folder by hand, slowly (made at the
# start: see above): while it is shorter than its header says it is
# left alone, not refused as truncated; once whole it is imported, by
# the watcher, once, although newer bundles from alpha came before it.
src=$(ls "$T"/stage/ferry/*/*.bundle) || it_fail "no bundle on stage"
[ "$(echo "$src" | wc -l)" = 1 ] || it_fail "one bundle expected: $src"
dst="$M/ferry/$(basename "$(dirname "$src")")/$(basename "$src")"
# One descriptor, as cp does (fusefat refuses to extend a reopened file).
{
	head -c 200 "$src" || exit 1
	while [ ! -e "$T/go" ]; do sleep 0.1; done
	tail -c +201 "$src"
} >"$dst" &
copier=$!
it_at_exit "touch '$T/go'; wait $copier" # never left waiting
# Two looks at the short file (each says so in beta's log).
i=0
while [ "$(grep -c "$(basename "$dst") is still being copied" \
	"$(node_log beta)")" -lt 2 ]; do
	[ $i -lt 200 ] || it_fail "beta did not look at the half-copied bundle"
	sleep 0.1
	i=$((i + 1))
done
[ -e "$dst" ] || it_fail "the half-copied bundle was taken away"
ls "$M/ferry/rejected" 2>/dev/null | grep -q . &&
	it_fail "a half-copied bundle was refused: $(cat "$M"/ferry/rejected/*.txt)"
touch "$T/go"
wait $copier || it_fail "copy onto the $kind medium"
use_node beta
wait_count beta in 1 20 || it_fail "the bundle copied by hand was not imported"
expect_eq "beta/in: four, copied by hand slowly" "$("$FERRY" recv in)" four
"$FERRY" recv in >/dev/null 2>&1 && it_fail "a duplicate of four at beta"
[ -e "$dst" ] && it_fail "the imported bundle is still on the medium"
it_ok "a bundle still being copied is waited for, then imported once"

# A medium that hangs (its FUSE daemon stopped: every stat of it blocks)
# stalls the watcher's look, on a pool thread, never the agent: local
# clients are still served.
if [ $kind = fat ]; then
	mpid=$(medium_daemon_pid "$M") || it_harness "no daemon for $M"
	[ -n "$mpid" ] || it_harness "no daemon for $M"
	it_at_exit "kill -CONT $mpid 2>/dev/null"
	kill -STOP "$mpid" || it_harness "kill -STOP $mpid"
	use_node alpha
	sleep 3 # a look has begun, and hangs
	id5=$(echo five | timeout 10 "$FERRY" send beta/in) ||
		it_fail "alpha stopped taking messages while its medium hangs"
	timeout 10 "$FERRY" status "$id5" >/dev/null ||
		it_fail "alpha stopped answering while its medium hangs"
	timeout 10 "$FERRY" queues >/dev/null ||
		it_fail "alpha stopped answering while its medium hangs"
	kill -CONT "$mpid"
	use_node beta
	wait_count beta in 1 30 ||
		it_fail "nothing moved after the medium came back"
	it_ok "a hanging medium does not stall the agent"
fi
stop_node alpha
stop_node beta
it_ok "both agents stop cleanly (status 0) with their watchers"
it_pass
