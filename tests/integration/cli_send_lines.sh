#!/bin/sh
# cli_send_lines.sh - `ferry send --lines`: pipelined sends (issue 15).
#   (a) 1,000 lines, one message each, many in flight: 1,000 ids printed
#       in input order, all different, each the id of the message holding
#       its own line (ferry recv --json), every line stored exactly once;
#   (b) a line refused by ferryd in the middle of a batch (too big for
#       max_message) and a bad address in a second run: only that one
#       fails, named by its line number, the exit status says so, and
#       the others are stored; --json says the same per line;
#   (c) --id with --lines is a usage error.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stage 1 and the sanitizer stage of CI run it; distcheck need not

start_node alpha '[limits]' 'max_message = 100'
T=$IT_TMP

# (a)
i=1
while [ $i -le 1000 ]; do
	echo "line $i"
	i=$((i + 1))
done >"$T/in"
"$FERRY" send --lines alpha/lines "$T/in" >"$T/ids" 2>"$T/err" ||
	it_fail "send --lines failed: $(cat "$T/err")"
expect_eq "1000 ids printed" "$(wc -l <"$T/ids" | tr -d ' ')" 1000
expect_eq "all ids different" "$(sort -u "$T/ids" | wc -l | tr -d ' ')" 1000
expect_eq "1000 messages in the queue" "$(queue_count lines)" 1000
"$FERRY" recv lines -n 0 --json >"$T/got" || it_fail "recv -n 0 failed"
# "ID line N" for each message received, against "ID line N" sent (the
# base64 decoded in awk: a base64 process per line took 20 s of CI).
tr ',{}' '\n\n\n' <"$T/got" | sed -n \
	-e 's/^"id":"\([0-9a-f]*\)"$/\1/p' \
	-e 's/^"payload_b64":"\([^"]*\)"$/B \1/p' |
	awk 'BEGIN {
		a = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
		for (i = 0; i < 64; i++) v[substr(a, i + 1, 1)] = i
	}
	function b64(s,   o, i, c, acc, bits, n) {
		o = ""; acc = 0; bits = 0
		for (i = 1; i <= length(s); i++) {
			c = substr(s, i, 1)
			if (c == "=") break
			acc = acc * 64 + v[c]; bits += 6
			if (bits >= 8) {
				bits -= 8; n = int(acc / 2 ^ bits)
				acc -= n * 2 ^ bits; o = o sprintf("%c", n)
			}
		}
		return o
	}
	$1 == "B" { print id " " b64($2); next }
	{ id = $1 }' | sort >"$T/got.pairs"
awk '{ print $0 }' "$T/ids" | nl -ba -w1 -s' ' |
	awk '{ print $2 " line " $1 }' | sort >"$T/sent.pairs"
expect_eq "each id is the message of its own line" \
	"$(comm -3 "$T/sent.pairs" "$T/got.pairs" | wc -l | tr -d ' ')" 0
it_ok "1000 pipelined sends landed exactly once, each under its own id"

# (b) line 3 is longer than max_message (100 bytes): refused alone.
{
	echo one
	echo two
	head -c 300 /dev/zero | tr '\0' x
	echo
	echo four
	echo five
} >"$T/in2"
"$FERRY" send --lines alpha/mixed "$T/in2" >"$T/ids2" 2>"$T/err2"
rc=$?
[ $rc -ne 0 ] || it_fail "a refused line left the exit status 0"
grep -q "line 3 not sent" "$T/err2" ||
	it_fail "the refused line is not named: $(cat "$T/err2")"
expect_eq "the other 4 ids printed" "$(wc -l <"$T/ids2" | tr -d ' ')" 4
expect_eq "4 messages stored" "$(queue_count mixed)" 4
"$FERRY" recv mixed -n 0 >"$T/got2" || it_fail "recv mixed failed"
expect_eq "the 4 good lines stored in order" "$(cat "$T/got2")" \
	onetwofourfive
it_ok "a line refused by ferryd fails alone"

printf 'a\nb\nc\n' | "$FERRY" send --lines --json nosuchnode/q \
	>"$T/j3" 2>"$T/err3"
[ $? -ne 0 ] || it_fail "no route: exit status 0"
expect_eq "three JSON error lines" "$(grep -c '"error"' "$T/j3")" 3
grep -q '"line":2' "$T/j3" || it_fail "--json does not name line 2"
printf 'a\nb\nc\n' | "$FERRY" send --lines --json alpha/js >"$T/j4" ||
	it_fail "--lines --json failed"
expect_eq "three JSON id lines" "$(grep -c '"id":"' "$T/j4")" 3
it_ok "--json says line, id or error for each line"

# (c)
"$FERRY" send --lines --id 00112233445566778899aabbccddeeff alpha/x \
	</dev/null 2>/dev/null
expect_eq "--id with --lines is a usage error" $? 2

stop_node alpha
it_pass
