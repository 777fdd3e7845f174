#!/bin/sh
# route_kill9.sh - kill -9 of the relays of a route while messages flow
# (docs/routing.md).  A chain a -> r1 -> r2 -> b, every hop TCP on
# 127.0.0.1; a knows only r1 (`* = r1`), r1 sends b's messages to r2
# (`b = r2`), r2 has b as a peer; r2 (`a = r1`) and b (`* = r2`) route
# receipts back.  The hops r1 -> r2 and r2 -> b are rate limited (rate =
# 8M) so that a large message is on the wire for a while.
#
# A writer on a keeps sending to b: small messages "msg-N" (priorities 0
# to 7, one in 7 with --receipt) to b/in, and now and then a large one (4
# to 16 MiB of random bytes, sha256 noted, --receipt) to b/big.  a is
# never killed, so each send must succeed.  Meanwhile, each cycle sleeps
# 0.2 to 1.5 s, kills r1, r2 or both with SIGKILL at that random moment,
# and starts them again after a pause of up to 0.5 s.  Then two cycles
# that are not left to chance: a 16 MiB message is sent, and once r2
# holds a durable part of it (`ferry status --partials`), r2 (the
# receiver) is killed, and with the next one r1 (the sender); r2's log
# must say it resumed each, and each must reach b intact.
#
# At the end the writer stops, every node must be running, a, r1, r2 and
# b must drain (no outbound message left) and b's queues must hold what
# was sent; then b receives everything: each small payload exactly once
# (no duplicate, none missing, no stranger), each large one with its
# sha256, no dead letter anywhere, and a's status of every large message
# says b has it (its receipt came back through the relays, signed by b
# and verified at a, which has b's card in [directory]).
# 3 random cycles (about 25 s on 2 cores); 30 cycles, and so more messages, with
# FERRY_TEST_LONG=1 (about 100 s).
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
if [ $IT_LONG -eq 1 ]; then
	cycles=30
	nbig=8        # large messages of the writer
	big_every=80 # one after this many small ones
	drain_s=300
else
	cycles=3
	nbig=3
	big_every=40
	drain_s=120
fi

make_node a
make_node r1
make_node r2
make_node b
node_listen r1 "$(it_free_port)"
node_listen r2 "$(it_free_port)"
node_listen b "$(it_free_port)"
node_peer a r1 "rate = 32M"
node_peer r1 a
node_peer r1 r2 "rate = 8M"
node_peer r2 r1
node_peer r2 b "rate = 8M"
node_peer b r2
printf '[route]\n* = r1\n' >>"$(node_conf a)"
printf '[route]\nb = r2\n' >>"$(node_conf r1)"
printf '[route]\na = r1\n' >>"$(node_conf r2)"
printf '[route]\n* = r2\n' >>"$(node_conf b)"
# b's receipts come to a through relays: they count only with b's
# signature verified, so a knows b's card (docs/routing.md section 7).
printf '[directory]\nb = %s\n' "$(node_card b)" >>"$(node_conf a)"
for n in a r1 r2 b; do start_agent $n; done

ms_sleep() {
	sleep "$(printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)))"
}

# The large payloads, made before the clock starts: random sizes from
# 4 MiB to 16 MiB (not whole MiB, so that the last chunk is a short one).
i=1
while [ $i -le $nbig ]; do
	head -c $(((4 << 20) + $(it_rand $((12 << 20))))) /dev/urandom \
		>"$T/big.$i" || it_harness "urandom"
	i=$((i + 1))
done
for d in 1 2; do
	head -c $((16 << 20)) /dev/urandom >"$T/det.$d" || it_harness "urandom"
done

# The writer: runs until $T/stop, then sends the large ones it has not
# sent yet.  Notes "ID msg-N" in small.sent and "ID SHA256" in big.sent
# once a has answered; any failed send (or one that hangs) ends it with
# status 1.
# a is never killed: a send that hangs is a failure too.
w_send() {
	timeout 120 "$FERRY" --socket "$w_sock" send "$@"
}
writer() {
	w_sock=$(node_sock a)
	w_n=0
	w_b=0
	while [ ! -e "$T/stop" ] || [ $w_b -lt $nbig ]; do
		if [ $w_b -lt $nbig ] && { [ -e "$T/stop" ] ||
			[ $((w_n % big_every)) -eq $((big_every / 2)) ]; }; then
			w_b=$((w_b + 1))
			w_id=$(w_send b/big "$T/big.$w_b" --receipt \
				--priority 1 2>>"$T/writer.log") || {
				echo "send of big.$w_b failed" >>"$T/writer.err"
				exit 1
			}
			w_sum=$(sha256sum <"$T/big.$w_b" | cut -d ' ' -f 1)
			echo "$w_id $w_sum" >>"$T/big.sent"
		fi
		[ -e "$T/stop" ] && continue
		w_n=$((w_n + 1))
		w_r=
		[ $((w_n % 7)) -eq 0 ] && w_r=--receipt
		w_id=$(echo "msg-$w_n" | w_send b/in \
			--priority "$(it_rand 8)" $w_r 2>>"$T/writer.log") || {
			echo "send of msg-$w_n failed" >>"$T/writer.err"
			exit 1
		}
		echo "$w_id msg-$w_n" >>"$T/small.sent"
	done
	exit 0
}

: >"$T/small.sent"
: >"$T/big.sent"
t0=$(it_now_ms)
writer &
wpid=$!
# At exit (a failure): the writer stops, unless it is gone already.
it_at_exit ': >"$T/stop"; [ -z "$wpid" ] || kill "$wpid" 2>/dev/null'

# Crashes of ours are findings: every agent must still be there.
check_all() {
	it_check_alive "$1" a r1 r2 b
	if ! it_alive "$wpid" && [ ! -e "$T/stop" ]; then
		it_fail "$1: the writer stopped: $(cat "$T/writer.err" 2>/dev/null)"
	fi
}

# --- random cycles
kills_r1=0
kills_r2=0
c=1
while [ $c -le $cycles ]; do
	ms_sleep $((200 + $(it_rand 1300)))
	check_all "cycle $c"
	case $(it_rand 5) in
	0 | 1) victims=r1 ;;
	2 | 3) victims=r2 ;;
	*) victims="r1 r2" ;;
	esac
	for v in $victims; do kill9_node $v; done
	ms_sleep "$(it_rand 500)"
	for v in $victims; do
		start_agent $v
		case $v in
		r1) kills_r1=$((kills_r1 + 1)) ;;
		r2) kills_r2=$((kills_r2 + 1)) ;;
		esac
	done
	c=$((c + 1))
done
it_ok "$cycles cycles: r1 killed $kills_r1 times, r2 $kills_r2 times, while a sent"

# --- two cycles not left to chance: kill r2 (the receiver), then r1
# (the sender), while r2 holds a durable part of a 16 MiB message.
# r2 keeps a partial in steps of 8 MiB (LINK_RESUME_EVERY), so "more than
# 0 bytes" means the restarted pair must resume, not start over.
partial_bytes() { # NODE ID: bytes of ID's partial at NODE, empty if none
	ferry_at "$1" status --partials --json | tr '{' '\n' |
		grep "\"id\":\"$2\"" | json_get bytes
}
# A 16 MiB message takes 2 s on a hop (rate = 8M): its partial at r2 is
# above 0 for about 1 s.  Should the polls miss that second (a loaded
# machine), another message is tried, three times at most.
det_send() { # D: send det.D at a, wait until r2 holds a durable part
	ds_try=1
	while :; do
		did=$(ferry_at a send b/big "$T/det.$1" --receipt --priority 7 \
			2>>"$T/writer.log") || it_fail "send of det.$1 at a"
		echo "$did $(sha256sum <"$T/det.$1" | cut -d ' ' -f 1)" \
			>>"$T/det.sent"
		ds_i=0
		while :; do
			pb=$(partial_bytes r2 "$did")
			[ -n "$pb" ] && [ "$pb" -gt 0 ] && return 0
			ferry_at r2 status "$did" |
				grep -q 'outbound\|in flight\|handed to b' && break
			ds_i=$((ds_i + 1))
			[ $ds_i -lt 600 ] || it_fail "det.$1: no durable part of $did at r2 after 30 s; at r1: $(ferry_at r1 status "$did" | head -n 1); r1 log: $(tail -n 3 "$(node_log r1)")"
			sleep 0.05
		done
		it_note "det.$1: r2 had all of $did before a partial was seen; again"
		ds_try=$((ds_try + 1))
		[ $ds_try -le 3 ] ||
			it_harness "det.$1: three 16 MiB messages crossed r1 -> r2 between two polls"
	done
}
for d in 1 2; do
	[ $d -eq 1 ] && victim=r2 || victim=r1
	check_all "det.$d"
	dk_try=1
	while :; do
		det_send $d
		kill9_node $victim
		# The rest (8 MiB, 1 s at 8M) may have crossed between the poll
		# and the kill (CI saw it once): then there is nothing to
		# resume; another message is tried, three times at most.
		grep -q "received message $did" "$(node_log r2)" || break
		it_note "det.$d: r2 had all of $did when $victim was killed; again"
		start_agent $victim
		dk_try=$((dk_try + 1))
		[ $dk_try -le 3 ] ||
			it_harness "det.$d: three 16 MiB messages were whole at r2 before the kill"
	done
	it_note "det.$d: $victim killed with $pb bytes of $did durable at r2"
	ms_sleep "$(it_rand 500)"
	start_agent $victim
	i=0
	until grep -q "resuming message $did at [1-9]" "$(node_log r2)"; do
		i=$((i + 1))
		[ $i -lt 300 ] || it_fail "det.$d: r2 did not resume $did after $victim was killed: $(grep "$did" "$(node_log r2)" | tail -n 3)"
		sleep 0.1
	done
	it_ok "det.$d: after kill -9 of $victim, r2 resumed $did from a durable offset"
done
kill_ms=$(($(it_now_ms) - t0))

# --- stop sending; everything must drain to b.
: >"$T/stop"
wait "$wpid"
wrc=$?
wpid=
[ $wrc -eq 0 ] ||
	it_fail "the writer failed (status $wrc): $(cat "$T/writer.err" 2>/dev/null); $(tail -n 3 "$T/writer.log")"
check_all "the end"
cat "$T/det.sent" >>"$T/big.sent"
nsmall=$(wc -l <"$T/small.sent" | tr -d ' ')
nbigs=$(wc -l <"$T/big.sent" | tr -d ' ')
[ "$nsmall" -gt 0 ] || it_fail "the writer sent no small message"
ndet=$(wc -l <"$T/det.sent" | tr -d ' ')
[ "$nbigs" -eq $((nbig + ndet)) ] ||
	it_fail "$nbigs large messages sent, wanted $((nbig + ndet))"
it_note "a accepted $nsmall small and $nbigs large messages in $kill_ms ms of kills"

t1=$(it_now_ms)
use_node b
i=0
while :; do
	check_all "draining"
	left=
	for n in a r1 r2 b; do
		o=$(node_info $n outbound_messages)
		[ "$o" = 0 ] || left="$left $n:$o"
	done
	qi=$(queue_count in)
	qb=$(queue_count big)
	[ -z "$left" ] && [ "$qi" = "$nsmall" ] && [ "$qb" = "$nbigs" ] && break
	i=$((i + 1))
	[ $i -lt $((drain_s * 5)) ] ||
		it_fail "not drained after $drain_s s: outbound${left:- none}; b/in $qi of $nsmall, b/big $qb of $nbigs"
	sleep 0.2
done
drain_ms=$(($(it_now_ms) - t1))
it_ok "a, r1, r2 and b hold nothing outbound; b/in holds $nsmall, b/big $nbigs"

for n in a r1 r2 b; do
	expect_eq "dead letters at $n" "$(FERRY_SOCKET=$(node_sock $n) queue_count dead)" 0
done

# --- receive everything at b
mkdir "$T/small.out" "$T/big.out" || it_harness "mkdir"
ferry_at b recv in --count 0 --out "$T/small.out" >"$T/small.names" ||
	it_fail "recv in at b"
ferry_at b recv big --count 0 --out "$T/big.out" >"$T/big.names" ||
	it_fail "recv big at b"
expect_eq "b/in after receiving" "$(queue_count in)" 0
expect_eq "b/big after receiving" "$(queue_count big)" 0

# Small ones: by id and by payload, each once, the same set as sent.
expect_eq "small messages received" \
	"$(wc -l <"$T/small.names" | tr -d ' ')" "$nsmall"
dups=$(sort "$T/small.names" | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "b delivered the same id twice: $dups"
xargs cat <"$T/small.names" >"$T/small.got" || it_harness "reading payloads"
dups=$(sort "$T/small.got" | uniq -d | head -n 3)
[ -z "$dups" ] || it_fail "payloads received twice at b: $dups"
cut -d ' ' -f 2 "$T/small.sent" | sort >"$T/small.want"
sort "$T/small.got" >"$T/small.have"
if ! cmp -s "$T/small.want" "$T/small.have"; then
	missing=$(comm -23 "$T/small.want" "$T/small.have" | head -n 3)
	extra=$(comm -13 "$T/small.want" "$T/small.have" | head -n 3)
	for m in $missing; do
		mid=$(grep " $m\$" "$T/small.sent" | cut -d ' ' -f 1)
		it_note "missing $m ($mid): a: $(ferry_at a status "$mid" | head -n 2 | tr '\n' ' ')r1: $(ferry_at r1 status "$mid" | head -n 1); r2: $(ferry_at r2 status "$mid" | head -n 1)"
	done
	it_fail "b's payloads differ from what a accepted: missing [$missing] extra [$extra]"
fi
sed 's|.*/||' "$T/small.names" | sort >"$T/small.ids"
cut -d ' ' -f 1 "$T/small.sent" | sort >"$T/small.ids.want"
cmp -s "$T/small.ids" "$T/small.ids.want" ||
	it_fail "b's ids differ from the ids a gave: $(comm -3 "$T/small.ids" "$T/small.ids.want" | head -n 3 | tr '\n' ' ')"
it_ok "each of the $nsmall small messages reached b exactly once"

# Large ones: each id once, its payload's sha256 the one sent.
expect_eq "large messages received" \
	"$(wc -l <"$T/big.names" | tr -d ' ')" "$nbigs"
bytes=0
while read -r id sum; do
	f=$T/big.out/$id
	[ -f "$f" ] || it_fail "large message $id did not reach b: a: $(ferry_at a status "$id" | head -n 2 | tr '\n' ' ')"
	got=$(sha256sum <"$f" | cut -d ' ' -f 1)
	[ "$got" = "$sum" ] ||
		it_fail "large message $id arrived damaged at b: sha256 $got, sent $sum ($(wc -c <"$f") bytes)"
	bytes=$((bytes + $(wc -c <"$f")))
done <"$T/big.sent"
it_ok "each of the $nbigs large messages reached b once, sha256 intact"

# The receipts of the large ones came back b -> r2 -> r1 -> a, signed by
# b and verified at a: nothing is outbound anywhere, so a has them all by
# now (10 s for it to count them).
grep -q 'receipt.*not verified.*not counted' "$(node_log a)" &&
	it_fail "a did not count a relayed receipt: $(grep 'not counted' "$(node_log a)" | head -n 1)"
t2=$(it_now_ms)
while read -r id sum; do
	until ferry_at a status "$id" | grep -q 'at b'; do
		[ $(($(it_now_ms) - t2)) -lt 10000 ] ||
			it_fail "no receipt from b at a for $id: $(ferry_at a status "$id" | tr '\n' ' ')"
		sleep 0.1
	done
done <"$T/big.sent"
it_ok "a's status of each large message says b has it (receipts relayed back, verified)"

resumed=
for n in r1 r2 b; do
	resumed="$resumed $n:$(grep -c 'resuming message' "$(node_log $n)")"
done
for n in r1 r2 b; do
	p=$(ferry_at $n status --partials --json | grep -o '"id":"[0-9a-f]*"' | wc -l)
	[ "$p" -eq 0 ] || it_note "$n keeps $p partial payloads: $(ferry_at $n status --partials | tail -n +2 | tr '\n' ' ')"
done
it_note "$nsmall small and $nbigs large messages ($bytes bytes in the large ones); kills: r1 $kills_r1 + 1, r2 $kills_r2 + 1 in $kill_ms ms; drained in $drain_ms ms; transfers resumed (log lines):$resumed"

for n in a r1 r2 b; do stop_node $n; done
it_pass
