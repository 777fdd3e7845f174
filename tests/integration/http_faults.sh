#!/bin/sh
# http_faults.sh - the HTTP transport under faults (docs/http.md):
#  1. every connection between field and base passes a TCP proxy that
#     cuts it after a random number of bytes, 100 cuts during a mixed
#     workload both ways (small messages and 6 MiB ones): every message
#     arrives exactly once, intact, and the bytes on the wire exceed the
#     payload by less than 25% (a cut transfer resumes from the other
#     side's durable offset instead of starting over);
#  2. kill -9 of either agent at random moments, KILLS cycles (30 with
#     FERRY_TEST_LONG=1, else 6), while bulk goes both ways: nothing lost,
#     nothing twice.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

T=$IT_TMP
PROXY=$(it_helper fault_proxy) || exit 99
LOAD=$(it_helper load_clients) || exit 99
it_heavy
KILLS=6
[ "${FERRY_TEST_LONG:-0}" = 1 ] && KILLS=30

make_node base "[limits]" "sweep_interval = 250ms"
make_node field "[limits]" "sweep_interval = 250ms"
hport=$(it_free_port)
printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$hport" >>"$T/base/ferry.conf"
"$PROXY" --target "$hport" --port-file "$T/proxy.port" \
	--stats "$T/proxy.stats" --cut-random 20000:1500000 --max-cuts 100 \
	--seed "${FERRY_TEST_SEED:-$$}" >/dev/null 2>"$T/proxy.log" &
px=$!
it_at_exit "kill $px 2>/dev/null"
it_wait_proxy $px "$T/proxy.port" "$T/proxy.log"
pport=$(cat "$T/proxy.port")
node_peer base field
node_peer field base "http = http://127.0.0.1:$pport/ferry" "poll = 5s"
start_agent base
start_agent field
pstat() { sed -n "s/^$1 //p" "$T/proxy.stats"; }

# queue NODE DEST TAG NCLIENTS NMSGS NBIG: small ones (load_clients,
# correlations "client C seq S" into $T/want.TAG) and NBIG of 6 MiB
# (their sums into $T/sums.TAG)
queue() {
	"$LOAD" send "$(node_sock "$1")" "$2/$3" 1 "$4" "$5" 300 \
		2>"$T/load.err" || it_fail "load_clients at $1: $(tail -n 3 "$T/load.err")"
	awk -v nc="$4" -v n="$5" 'BEGIN { for (c = 0; c < nc; c++)
		for (s = 0; s < n; s++) printf "client %03d seq %05d\n", c, s }' |
		sort >"$T/want.$3"
	: >"$T/sums.$3"
	q_i=0
	while [ $q_i -lt "$6" ]; do
		it_gen "$(echo "$3 $q_i" | cksum | cut -d' ' -f1)" \
			$((6 * 1024 * 1024)) >"$T/p" || it_harness gen
		sha256sum <"$T/p" | cut -c1-64 >>"$T/sums.$3"
		ferry_at "$1" send "$2/$3big" "$T/p" >/dev/null 2>&1 ||
			it_fail "send big at $1"
		q_i=$((q_i + 1))
	done
	sort -o "$T/sums.$3" "$T/sums.$3"
}

# check NODE TAG NSMALL NBIG SECS: all there, exactly once, intact
check() {
	wait_count "$1" "$2/00" "$3" "$5" ||
		it_fail "$1 has $(use_node "$1"; queue_count "$2/00") of $3 small ($2)"
	wait_count "$1" "$2big" "$4" "$5" ||
		it_fail "$1 has $(use_node "$1"; queue_count "$2big") of $4 big ($2)"
	"$LOAD" drain "$(node_sock "$1")" "$2/00" 2 2>"$T/drain.err" | sort \
		>"$T/got.$2" || it_fail "drain: $(tail -n 3 "$T/drain.err")"
	cmp -s "$T/want.$2" "$T/got.$2" ||
		it_fail "$2: not exactly once ($(wc -l <"$T/got.$2") of $3, $(uniq -d "$T/got.$2" | wc -l) twice)"
	: >"$T/gsums"
	c_i=0
	while [ $c_i -lt "$4" ]; do
		ferry_at "$1" recv "$2big" | sha256sum | cut -c1-64 >>"$T/gsums" ||
			it_fail "recv big"
		c_i=$((c_i + 1))
	done
	sort -o "$T/gsums" "$T/gsums"
	cmp -s "$T/sums.$2" "$T/gsums" || it_fail "$2: a big payload differs"
	expect_eq "$2: nothing more" "$(use_node "$1"; queue_count "$2big")" 0
}

# --- 1. 100 cuts during a mixed workload
t0=$(it_now_ms)
queue field base up1 2 300 6
queue base field down1 2 300 6
payload=$(((600 * 300 + 6 * 6 * 1024 * 1024) * 2))
check base up1 600 6 240
check field down1 600 6 240
cuts=$(pstat cuts)
wire=$(($(pstat c2s_bytes) + $(pstat s2c_bytes)))
extra=$(((wire - payload) * 1000 / payload))
it_note "phase 1: $cuts cuts, $wire bytes on the wire for $payload of payload (+$((extra / 10)).$((extra % 10))%), $(($(it_now_ms) - t0)) ms"
[ "$cuts" -ge 50 ] || it_harness "only $cuts cuts: the workload is too small"
# A transfer that started over would cost what it had sent of its bundle
# (MiB here) at each of the 100 cuts: several times the payload.
# Resumed, it costs what the server had not made durable yet when the
# link was cut, which grows with the load of the machine (+4.3% alone,
# up to +11% with other suites running at once): 25% tells the two
# apart on a busy machine too.
[ $extra -lt 250 ] ||
	it_fail "the wire carried $((extra / 10)).$((extra % 10))% more than the payload (25% allowed): cut transfers start over"
it_ok "$cuts cuts: exactly once, intact, less than 25% more on the wire"

# --- 2. kill -9 of either agent, at random moments
queue field base up2 2 400 4
queue base field down2 2 400 4
c=0
while [ $c -lt $KILLS ]; do
	who=base
	[ $((c % 2)) -eq 1 ] && who=field
	sleep "0.$(($(it_rand 8) + 2))"
	it_check_alive "kill cycle $c" base field
	kill9_node $who
	start_agent $who
	c=$((c + 1))
done
it_note "$KILLS kill -9 cycles done"
check base up2 800 4 240
check field down2 800 4 240
it_ok "$KILLS kill -9 cycles: nothing lost, nothing twice"
it_check_alive "the end" base field
it_pass
