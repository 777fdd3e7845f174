#!/bin/sh
# sneak_partial.sh - a bundle that fails to verify discards nothing: a
# partial payload kept by a cut TCP transfer survives the import of a
# damaged bundle carrying the same message, and the transfer resumes
# from it (issue 12 item 8; the verifying pass used to drop the partial
# before the bundle's signature was checked).
# fa sends 16 MiB to fb over a link limited to 2 MB/s and exports it at
# once; fa stops 5 s into the transfer (fb keeps what it has); one byte of
# the bundle's signature is flipped and fb imports it: refused.  fa comes
# back: fb resumes the message from what it kept (log "resuming"), and
# the payload arrives whole.  About 15 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
size=$((16 * 1024 * 1024))

make_node fa
make_node fb
node_listen fb "$(it_free_port)"
node_peer fa fb "rate = 2M"
node_peer fb fa
start_agent fa
start_agent fb

head -c "$size" /dev/urandom >"$T/payload" || it_harness "payload"
id=$(ferry_at fa send fb/q "$T/payload") || it_fail "fa: send"
mkdir -p "$T/stick" || it_harness mkdir
ferry_at fa export "$T/stick" -q >"$T/exp" 2>&1 || it_fail "fa: export: $(cat "$T/exp")"
sleep 5
stop_node fa
spool=$(node_dir fb)/store/spool/$id
[ -f "$spool" ] || it_harness "fb kept no partial of $id after 5 s (rate too high?)"
kept=$(wc -c <"$spool" | tr -d ' ')
[ "$kept" -gt 0 ] && [ "$kept" -lt "$size" ] ||
	it_harness "fb's partial holds $kept of $size bytes"
it_note "fb kept $kept bytes of $size when fa stopped"

# Flip one byte of the signature (the bundle's last bytes).
b=$(ls "$T/stick/ferry/"*/*.bundle | head -n 1)
[ -f "$b" ] || it_harness "no bundle exported"
len=$(wc -c <"$b" | tr -d ' ')
off=$((len - 10))
old=$(od -An -tu1 -j "$off" -N 1 "$b" | tr -d ' ')
# shellcheck disable=SC2059 # the format is the octal byte
printf "$(printf '\\%03o' $((old ^ 255)))" |
	dd of="$b" bs=1 seek="$off" conv=notrunc status=none
ferry_at fb import "$T/stick" -q >"$T/imp" 2>&1 || it_fail "fb: import: $(cat "$T/imp")"
grep -q refused "$T/imp" || it_fail "the damaged bundle was not refused: $(cat "$T/imp")"
it_ok "a bundle damaged in its signature is refused"
[ -f "$spool" ] || it_fail "the refused bundle discarded fb's partial of $id"
now=$(wc -c <"$spool" | tr -d ' ')
expect_eq "fb's partial after the refused import (bytes)" "$now" "$kept"

start_agent fa
wait_count fb q 1 30 || it_fail "the message did not arrive within 30 s"
grep -q "resuming message $id at $kept of $size bytes" "$(node_log fb)" ||
	it_fail "fb did not resume at $kept: $(grep -i "resum\|$id" "$(node_log fb)" | tail -5)"
it_ok "the transfer resumed from the kept $kept bytes"
ferry_at fb recv q >"$T/got" || it_fail "fb: recv"
cmp -s "$T/got" "$T/payload" || it_fail "the payload differs"
it_ok "the payload arrived whole"
stop_node fa
stop_node fb
it_pass
