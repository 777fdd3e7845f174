# bench_aim.sh - sourced by the shell benchmarks: bench_aim, the shell's
# side of bench_util.h's bench_aim (one aim of issue 15 measured in this
# run, a line of $BENCH_AIMS for bench_report.sh; nothing when unset).
# bench_aim AIM VALUE UNIT REFERENCE TARGET SENSE
#   SENSE ">=": met when VALUE / REFERENCE >= TARGET; "<=": when <=.
#   A VALUE or REFERENCE of 0 or "-" means not measured.
bench_aim() {
	[ -n "${BENCH_AIMS:-}" ] || return 0
	printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "${2:--}" "$3" "${4:--}" \
		"$5" "$6" >>"$BENCH_AIMS"
}
