# lib_nats.sh - a NATS JetStream cluster for the bridge tests
# (bridge_nats.sh, bridge_two.sh); sourced after lib.sh, not run.
#
#   nats_setup      skip the test unless nats-server is installed; pick
#                   the ports of three servers n1..n3 on loopback; set
#                   $URLS (their client URLs, comma-separated) and $TOOL
#                   (nats_tool); every server started is killed at exit
#   nats_start I    start server nI (1..3), a cluster member with
#                   JetStream, its data in $IT_TMP/natsI
#   nats_kill I     kill -9 server nI, reaped

nats_setup() {
	command -v nats-server >/dev/null 2>&1 ||
		it_skip "nats-server is not installed (apt-get install nats-server)"
	TOOL=$(it_helper nats_tool) || exit 99
	P1=$(it_free_port) P2=$(it_free_port) P3=$(it_free_port)
	C1=$(it_free_port) C2=$(it_free_port) C3=$(it_free_port)
	URLS="nats://127.0.0.1:$P1,nats://127.0.0.1:$P2,nats://127.0.0.1:$P3"
	it_at_exit 'for p in $(cat "$IT_TMP/.nats.pids" 2>/dev/null); do kill -9 $p 2>/dev/null; done'
}

nats_start() { # I
	eval "ns_p=\$P$1"
	ns_routes=""
	for ns_j in 1 2 3; do
		[ "$ns_j" = "$1" ] && continue
		eval "ns_c=\$C$ns_j"
		ns_routes="${ns_routes:+$ns_routes,}nats://127.0.0.1:$ns_c"
	done
	eval "ns_c=\$C$1"
	nats-server -a 127.0.0.1 -p "$ns_p" -n "n$1" -js -sd "$IT_TMP/nats$1" \
		--cluster_name ferrytest --cluster "nats://127.0.0.1:$ns_c" \
		--routes "$ns_routes" >>"$IT_TMP/nats$1.log" 2>&1 &
	echo $! >"$IT_TMP/nats$1.pid"
	echo $! >>"$IT_TMP/.nats.pids"
}

nats_kill() { # I
	kill -9 "$(cat "$IT_TMP/nats$1.pid")" 2>/dev/null
	wait "$(cat "$IT_TMP/nats$1.pid")" 2>/dev/null
}
