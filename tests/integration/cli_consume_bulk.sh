#!/bin/sh
# cli_consume_bulk.sh - `ferry consume` at scale (issue 17's test):
#   (a) N-1 messages and one that always fails, through a handler (4 at
#       once) that fails every 7th call once: each of the N-1 is handled
#       exactly once (the handler records them), the poison message lies
#       in dead with the reason "handler failed" and its stderr;
#   (b) N more, and consume is killed with -9 twice mid-run, then started
#       again: nothing lost (every one handled; only the few a killed
#       consume had in flight may be handled twice).
# N is 1,000 with FERRY_TEST_LONG=1 (about 4 minutes on 2 cores), else
# 120.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"

LOAD=$(it_helper load_clients) || exit 99
it_heavy
start_node alpha '[limits]' 'sweep_interval = 100ms'
w=$IT_TMP/scratch
mkdir "$w" || it_harness "mkdir $w"
echo 0 >"$w/count"
N=120
[ "${FERRY_TEST_LONG:-0}" = 1 ] && N=1000

cat >"$w/h.sh" <<'EOF'
#!/bin/sh
# The handler: the poison fails always; every 7th call (counted under a
# lock across the parallel handlers) fails once for its message; any
# other call records the message's id.
w=$1
body=$(cat)
case $body in
poison*) echo "poison pill $FERRY_ID" >&2; exit 1 ;;
esac
n=$(flock "$w/lock" sh -c 'n=$(($(cat "$1/count") + 1)); echo $n >"$1/count"; echo $n' sh "$w")
if [ $((n % 7)) -eq 0 ] && [ ! -e "$w/failed.$FERRY_ID" ]; then
	: >"$w/failed.$FERRY_ID"
	echo "call $n fails once" >&2
	exit 3
fi
echo "$FERRY_CORRELATION" >>"$w/handled.$2"
EOF
chmod +x "$w/h.sh"

wanted() { # N: the correlations of load_clients' N messages, sorted
	awk -v n="$1" 'BEGIN { for (s = 0; s < n; s++)
		printf "client 000 seq %05d\n", s }' | sort
}

# ------------------------------------------------ (a) exactly once
"$LOAD" send "$(node_sock alpha)" alpha/tasks 1 1 $((N - 1)) 200 2>"$w/load.err" ||
	it_harness "load_clients: $(tail -n 3 "$w/load.err")"
echo poison | "$FERRY" send alpha/tasks/00 >"$w/poison.id" || it_harness send
wanted $((N - 1)) >"$w/want.a"
expect_eq "queued" "$(queue_count tasks/00)" $N
t0=$(it_now_ms)
"$FERRY" consume tasks/00 --parallel 4 --max-deliveries 3 --retry-delay 200ms --lease 5s -- \
	"$w/h.sh" "$w" a >"$w/c.out" 2>"$w/c.err" &
cpid=$!
it_at_exit "kill -9 $cpid 2>/dev/null"
i=0
until [ "$(queue_count tasks/00)" = 0 ] && [ "$(queue_count dead)" = 1 ]; do
	i=$((i + 1))
	[ $i -gt 1800 ] && it_fail "after 180 s: $(queue_count tasks/00) left, $(queue_count dead) dead"
	sleep 0.1
done
kill -TERM $cpid
wait $cpid
expect_eq "consume exits 0 on SIGTERM" $? 0
it_note "$N messages consumed in $(($(it_now_ms) - t0)) ms"
sort "$w/handled.a" >"$w/got.a"
cmp -s "$w/want.a" "$w/got.a" ||
	it_fail "not each of the $((N - 1)) once: $(wc -l <"$w/got.a") handled, $(uniq -d "$w/got.a" | wc -l) twice"
it_ok "$((N - 1)) handled exactly once"
nfail=$(ls "$w" | grep -c '^failed\.')
[ "$nfail" -gt $((N / 10)) ] || it_fail "only $nfail calls failed once (every 7th should)"
it_ok "$nfail messages failed once and were handled on a later delivery"
d=$("$FERRY" recv dead --json) || it_fail "recv dead"
echo "$d" | grep -q "$(cat "$w/poison.id")" || it_fail "dead is not the poison: $d"
echo "$d" | grep -q 'handler failed' || it_fail "no reason: $d"
echo "$d" | grep -q 'poison pill' || it_fail "no stderr kept: $d"
it_ok "the poison message lies in dead: handler failed, its stderr kept"

# ------------------------------------------------ (b) kill -9 of consume
"$LOAD" send "$(node_sock alpha)" alpha/more 1 1 $N 200 2>"$w/load.err" ||
	it_harness "load_clients: $(tail -n 3 "$w/load.err")"
wanted $N >"$w/want.b"
k=0
while :; do
	"$FERRY" consume more/00 --parallel 4 --max-deliveries 50 --retry-delay 200ms --lease 5s -- \
		"$w/h.sh" "$w" b >"$w/c.out" 2>"$w/c.err" &
	cpid=$!
	it_at_exit "kill -9 $cpid 2>/dev/null"
	if [ $k -lt 2 ]; then
		# kill -9 once a few hundred more were handled
		goal=$(($( (cat "$w/handled.b" 2>/dev/null || true) | wc -l) + N / 4))
		i=0
		while [ "$( (cat "$w/handled.b" 2>/dev/null || true) | wc -l)" -lt $goal ]; do
			i=$((i + 1))
			[ $i -gt 1200 ] && it_fail "consume made no progress"
			sleep 0.05
		done
		kill -9 $cpid
		wait $cpid 2>/dev/null
		k=$((k + 1))
		continue
	fi
	break
done
i=0
until [ "$(queue_count more/00)" = 0 ]; do
	i=$((i + 1))
	[ $i -gt 1800 ] && it_fail "after 180 s: $(queue_count more/00) left"
	sleep 0.1
done
kill -TERM $cpid
wait $cpid
sort -u "$w/handled.b" >"$w/got.b"
cmp -s "$w/want.b" "$w/got.b" ||
	it_fail "lost after kill -9: $(comm -23 "$w/want.b" "$w/got.b" | wc -l) never handled"
twice=$(sort "$w/handled.b" | uniq -d | wc -l)
[ "$twice" -le 8 ] || it_fail "$twice handled twice (at most the 2 x 4 in flight at the kills)"
it_ok "two kill -9 of consume: none lost ($twice in flight handled again)"
it_pass
