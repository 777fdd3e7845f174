#!/bin/sh
# cli_completion.sh - the bash completion of ferry (completion/ferry),
# sourced in bash as bash-completion would, _ferry called with
# COMP_WORDS and COMP_CWORD set as bash sets them:
#  - the commands: "ferry se" gives send; the command list is the one
#    `ferry --help` prints, and each verb's options those of its --help;
#  - with an agent: queue names for recv and queues purge, NODE/ for
#    send and NODE/QUEUE after the slash, --socket honoured;
#  - without one: nothing offered, nothing printed, in under 3 s.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy

T=$IT_TMP
command -v bash >/dev/null || it_skip "needs bash"
comp=${top_srcdir:-$(dirname "$0")/../..}/completion/ferry
[ -f "$comp" ] || it_harness "no $comp"
ferry_abs=$(cd "$(dirname "$FERRY")" && pwd)/ferry

# complete WORD...: what _ferry offers for the last WORD (after
# "ferry"), sorted, duplicates dropped, on one line; stderr kept in
# $T/comp.err.  The commands and options are learnt first (once per shell
# in real use), so $T/comp.ms is the time the completion itself took.
complete_words() {
	bash -c '. "$1"; ms=$2; shift 2
		_ferry_learn "$1"
		COMP_WORDS=("$@"); COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_LINE="$*"; COMP_POINT=${#COMP_LINE}
		t0=${EPOCHREALTIME/[.,]/}
		_ferry
		t1=${EPOCHREALTIME/[.,]/}
		echo $(((t1 - t0) / 1000)) >"$ms"
		printf "%s\n" "${COMPREPLY[@]}"' \
		bash "$comp" "$T/comp.ms" "$ferry_abs" "$@" 2>>"$T/comp.err" |
		sed '/^$/d' | sort -u | tr '\n' ' ' | sed 's/ $//'
}

: >"$T/comp.err"
expect_eq "ferry se<TAB>" "$(complete_words se)" send
expect_eq "ferry he<TAB>" "$(complete_words he)" help
want=$("$FERRY" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z]*\) .*/\1/p' |
	sort | tr '\n' ' ' | sed 's/ $//')
expect_eq "ferry <TAB>: the commands of ferry --help" "$(complete_words '')" "$want"
for verb in send recv consume queues export init; do
	want=$("$FERRY" help $verb |
		sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' |
		sort -u | tr '\n' ' ' | sed 's/ $//')
	[ -n "$want" ] || it_harness "no options in ferry help $verb"
	expect_eq "ferry $verb --<TAB>: its options" "$(complete_words $verb --)" "$want"
done
expect_eq "ferry send --pri<TAB>" "$(complete_words send --pri)" --priority
expect_eq "ferry queues <TAB>" "$(complete_words queues '')" "create list purge"

# --- no agent: nothing, quietly, quickly
got=$(FERRY_SOCKET=$T/none.sock complete_words recv '')
ms=$(cat "$T/comp.ms")
expect_eq "ferry recv <TAB> without an agent" "$got" ""
[ "$ms" -lt 3000 ] || it_fail "completion without an agent took $ms ms"
[ -s "$T/comp.err" ] && it_fail "completion printed errors: $(cat "$T/comp.err")"
it_ok "no agent: nothing offered, nothing printed ($ms ms)"

# --- a live agent's queues and node
start_node alpha
for q in inbox reports.daily reports.weekly; do
	printf x | "$FERRY" send alpha/$q >/dev/null || it_fail "send to $q"
done
expect_eq "ferry recv in<TAB>" "$(complete_words recv in)" inbox
expect_eq "ferry recv rep<TAB>" "$(complete_words recv rep)" \
	"reports.daily reports.weekly"
expect_eq "ferry queues purge rep<TAB>" "$(complete_words queues purge rep)" \
	"reports.daily reports.weekly"
expect_eq "ferry consume <TAB>" "$(complete_words consume '')" \
	"inbox reports.daily reports.weekly"
expect_eq "ferry send <TAB>" "$(complete_words send '')" "alpha/"
expect_eq "ferry send alpha/rep<TAB>" "$(complete_words send alpha/rep)" \
	"alpha/reports.daily alpha/reports.weekly"
expect_eq "ferry recv --lease 5 in<TAB>" "$(complete_words recv --lease 5 in)" inbox
sock=$FERRY_SOCKET
expect_eq "ferry --socket S recv in<TAB>, FERRY_SOCKET elsewhere" \
	"$(FERRY_SOCKET=$T/none.sock complete_words --socket "$sock" recv in)" inbox
expect_eq "ferry recv --socket S in<TAB>, FERRY_SOCKET elsewhere" \
	"$(FERRY_SOCKET=$T/none.sock complete_words recv --socket "$sock" in)" inbox
[ -s "$T/comp.err" ] && it_fail "completion printed errors: $(cat "$T/comp.err")"
stop_node alpha
it_pass
