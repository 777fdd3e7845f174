#!/bin/sh
# bench_report.sh - the closing table of `make bench`: every aim of issue
# 15 ("Performance"), the figure this run measured, the reference
# measured in the same run, the ratio and "meets" / "short", from the
# lines the benchmarks appended to AIMS (bench_util.h, bench_aim.sh);
# and the same as JSON in RESULTS:
#   {"aims": [{"aim": "pipelined sends", "value": 11900, "unit": "msg/s",
#              "reference": 27700, "ratio": 0.43, "target": 0.8,
#              "met": false}, ...]}
# One entry per aim, in the order, named after its headings; an
# aim no benchmark measured this run has "value": null and "met": false.
# An aim measured by several rows (memory) keeps its worst.
# Usage: bench_report.sh AIMS RESULTS
aims=$1
out=$2
[ -n "$aims" ] && [ -n "$out" ] || {
	echo "usage: bench_report.sh AIMS RESULTS" >&2
	exit 2
}
[ -f "$aims" ] || : >"$aims"
awk -F '\t' -v out="$out" '
BEGIN {
	# The issue'"'"'s aims, in its order: name|unit|target|sense|what
	n = split("pipelined sends|msg/s|0.8|>=|16 pipelining clients / the store'"'"'s batched put;" \
	    "pipelined sends: store batched put|msg/s|10|>=|the store'"'"'s batched put / raw fdatasync'"'"'d appends;" \
	    "end to end small messages|msg/s|0.8|>=|1 KiB, link up, send -> all in the queue / transfer alone;" \
	    "big messages over TCP|MB/s|0.8|>=|1 GiB, link up, end to end / raw secretstream over TCP;" \
	    "sneakernet 1 GiB|MB/s|1.5|>=|export + import / NNCP end to end;" \
	    "slow links: compression|bytes|0.35|<=|bytes on the wire / size of a 100 MiB text log;" \
	    "slow links: framing overhead|bytes|1.15|<=|bytes on the wire per 1 KiB message / 1 KiB;" \
	    "slow links: goodput at rate|B/s|0.9|>=|20 MiB message at rate = 256K / the rate;" \
	    "slow links: urgent during a big message|s|1|<=|urgent 1 KiB sent mid-way: arrival / 2 s;" \
	    "a quiet idle node|wake-ups/s|1|<=|wake-ups per second / 1;" \
	    "memory|MiB|1|<=|ferryd peak RSS, worst row / 64 MiB", spec, ";")
	for (i = 1; i <= n; i++) {
		sub(/^ +/, "", spec[i])
		split(spec[i], f, "|")
		name[i] = f[1]; unit[i] = f[2]; target[i] = f[3]
		sense[i] = f[4]; what[i] = f[5]; idx[f[1]] = i
	}
}
function bad(v) { return v == "" || v == "-" || v + 0 < 0 }
{
	i = idx[$1]
	if (i == "") {
		printf "bench_report: unknown aim \"%s\" ignored\n", $1 > "/dev/stderr"
		next
	}
	if (bad($2) || bad($4) || $4 + 0 == 0)
		next
	r = $2 / $4
	# keep the worst of several rows
	if (has[i] && ((sense[i] == ">=" && r >= ratio[i]) || (sense[i] == "<=" && r <= ratio[i])))
		next
	has[i] = 1; val[i] = $2; ref[i] = $4; ratio[i] = r
	unit[i] = $3; target[i] = $5; sense[i] = $6
}
function num(v) { return sprintf("%.6g", v) }
function jstr(s) { gsub(/\\/, "\\\\", s); gsub(/"/, "\\\"", s); return "\"" s "\"" }
END {
	printf "\naims of issue 15 (\"Performance\"), this run:\n"
	printf "%-42s %12s %-10s %12s %8s %8s  %s\n", "aim", "value", "unit", "reference", "ratio", "target", "verdict"
	printf "%-42s %12s %-10s %12s %8s %8s  %s\n", "---", "-----", "----", "---------", "-----", "------", "-------"
	met = 0
	for (i = 1; i <= n; i++) {
		if (has[i]) {
			ok[i] = sense[i] == ">=" ? ratio[i] >= target[i] : ratio[i] <= target[i]
			met += ok[i]
			printf "%-42s %12s %-10s %12s %8s %8s  %s\n", name[i], num(val[i]), unit[i], num(ref[i]), sprintf("x%.2f", ratio[i]), sense[i] target[i], ok[i] ? "meets" : "short"
		} else
			printf "%-42s %12s %-10s %12s %8s %8s  %s\n", name[i], "-", unit[i], "-", "-", sense[i] target[i], "not measured"
	}
	printf "(%s; %d of %d met)\n", "ratio = value / reference, measured side by side in this run", met, n
	printf "{\"aims\": [" > out
	for (i = 1; i <= n; i++) {
		printf "%s\n  {\"aim\": %s, ", (i > 1 ? "," : ""), jstr(name[i]) > out
		if (has[i])
			printf "\"value\": %s, \"unit\": %s, \"reference\": %s, \"ratio\": %s, \"target\": %s, \"met\": %s}", num(val[i]), jstr(unit[i]), num(ref[i]), num(ratio[i]), target[i], ok[i] ? "true" : "false" > out
		else
			printf "\"value\": null, \"unit\": %s, \"reference\": null, \"ratio\": null, \"target\": %s, \"met\": false}", jstr(unit[i]), target[i] > out
	}
	printf "\n]}\n" > out
	close(out)
	printf "written: %s\n", out
}' "$aims"
