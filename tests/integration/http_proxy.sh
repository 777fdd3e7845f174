#!/bin/sh
# http_proxy.sh - the HTTP transport through real proxies (docs/http.md):
#  1. field-1 calls base through a forward proxy (Debian's tinyproxy) in
#     plain HTTP;
#  2. field-2 calls base over HTTPS through the same forward proxy
#     (CONNECT) to a TLS-terminating reverse proxy (Debian's nginx, with
#     the README's settings) in front of base's http_listen, trusting a
#     CA this test makes with openssl (`ca =`);
# messages go both ways, big (8 MiB: several proxy buffers) and small,
# exactly once; each proxy's log must show ferry's requests (a bypassed
# proxy fails the test); base's http_listen is on 127.0.0.1 only.
# Exit: 0 pass, 1 fail, 77 skip, 99 harness error.
. "$(dirname "$0")/lib.sh"
it_heavy # stages 1 and 2 of CI run it; the tarball's suite need not

T=$IT_TMP
for b in tinyproxy nginx openssl; do
	command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] ||
		it_skip "$b is not installed (scripts/install-deps)"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- a CA and a certificate for localhost / 127.0.0.1
mkdir "$T/tls" || it_harness mkdir
(
	cd "$T/tls" &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key \
			-out ca.pem -days 2 -subj "/CN=ferry test CA" &&
		openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr \
			-subj "/CN=localhost" &&
		printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >ext &&
		openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key \
			-CAcreateserial -out srv.pem -days 2 -extfile ext &&
		openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key \
			-out other.pem -days 2 -subj "/CN=another CA"
) >"$T/openssl.log" 2>&1 || it_harness "openssl: $(tail -n 3 "$T/openssl.log")"

# --- the nodes
bport=$(it_free_port)
make_node base "[limits]" "sweep_interval = 250ms"
printf '[node]\nhttp_listen = 127.0.0.1:%s\n' "$bport" >>"$T/base/ferry.conf"
make_node field1 "[limits]" "sweep_interval = 250ms"
make_node field2 "[limits]" "sweep_interval = 250ms"
node_peer base field1
node_peer base field2

# --- tinyproxy (forward), in the foreground, logging every request
pport=$(it_free_port)
cat >"$T/tinyproxy.conf" <<EOF
Port $pport
Listen 127.0.0.1
Timeout 600
LogFile "$T/tinyproxy.log"
LogLevel Info
MaxClients 50
Allow 127.0.0.1
ConnectPort 443
EOF
nport=$(it_free_port)
echo "ConnectPort $nport" >>"$T/tinyproxy.conf"
if [ "$(id -u)" -eq 0 ]; then
	printf 'User root\nGroup root\n' >>"$T/tinyproxy.conf"
fi
tinyproxy -d -c "$T/tinyproxy.conf" >"$T/tinyproxy.out" 2>&1 &
tp=$!
it_at_exit "kill $tp 2>/dev/null"
i=0
until grep -q "listening on\|Listening on\|Setting the various signals" \
	"$T/tinyproxy.log" 2>/dev/null; do
	it_alive $tp || it_harness "tinyproxy: $(tail -n 3 "$T/tinyproxy.out" "$T/tinyproxy.log" 2>&1)"
	i=$((i + 1))
	[ $i -gt 100 ] && break
	sleep 0.05
done

# --- nginx (TLS in front of base), the settings the README shows
mkdir -p "$T/nginx/logs" "$T/nginx/tmp" || it_harness mkdir
cat >"$T/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log info;
events { worker_connections 256; }
http {
	access_log $T/nginx/logs/access.log;
	client_body_temp_path $T/nginx/tmp/body;
	proxy_temp_path $T/nginx/tmp/proxy;
	fastcgi_temp_path $T/nginx/tmp/fcgi;
	uwsgi_temp_path $T/nginx/tmp/uwsgi;
	scgi_temp_path $T/nginx/tmp/scgi;
	server {
		listen 127.0.0.1:$nport ssl;
		http2 on;
		server_name localhost;
		ssl_certificate $T/tls/srv.pem;
		ssl_certificate_key $T/tls/srv.key;
		location /ferry/ {
			proxy_pass http://127.0.0.1:$bport;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_request_buffering off;
			proxy_buffering off;
			client_max_body_size 0;
			proxy_read_timeout 3700s;
			proxy_send_timeout 600s;
		}
	}
}
EOF
# nginx 1.22 has no "http2 on;": HTTP/2 is a flag of listen there.
if ! "$NGINX" -t -p "$T/nginx" -c "$T/nginx/nginx.conf" >/dev/null 2>&1; then
	sed -i -e '/http2 on;/d' -e "s/listen 127.0.0.1:$nport ssl;/listen 127.0.0.1:$nport ssl http2;/" \
		"$T/nginx/nginx.conf"
fi
"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" >"$T/nginx.out" 2>&1 &
ng=$!
it_at_exit "kill $ng 2>/dev/null"
i=0
until python3 -c "import socket,sys; socket.create_connection(('127.0.0.1',$nport),1)" 2>/dev/null; do
	it_alive $ng || it_harness "nginx: $(tail -n 5 "$T/nginx.out" "$T/nginx/logs/error.log" 2>&1)"
	i=$((i + 1))
	[ $i -gt 100 ] && it_harness "nginx does not listen"
	sleep 0.05
done

node_peer field1 base "http = http://127.0.0.1:$bport/ferry" \
	"proxy = http://127.0.0.1:$pport" "poll = 15s"
node_peer field2 base "http = https://localhost:$nport/ferry" \
	"proxy = http://127.0.0.1:$pport" "ca = $T/tls/ca.pem" "poll = 15s"
start_agent base
start_agent field1
start_agent field2

it_gen 21 $((8 * 1024 * 1024)) >"$T/big" || it_harness gen
for f in field1 field2; do
	for k in 1 2 3; do
		echo "$f up $k" | ferry_at $f send "base/from-$f" >/dev/null ||
			it_fail "send at $f"
		echo "down $k" | ferry_at base send "$f/in" >/dev/null ||
			it_fail "send to $f"
	done
	ferry_at $f send "base/big-$f" "$T/big" >/dev/null 2>&1 ||
		it_fail "send big at $f"
	ferry_at base send "$f/big" "$T/big" >/dev/null 2>&1 ||
		it_fail "send big to $f"
done
for f in field1 field2; do
	wait_count base "from-$f" 3 60 || it_fail "base has $(use_node base; queue_count "from-$f") of 3 from $f"
	wait_count "$f" in 3 60 || it_fail "$f has $(use_node $f; queue_count in) of 3"
	wait_count base "big-$f" 1 60 || it_fail "the big one from $f is missing"
	wait_count "$f" big 1 60 || it_fail "the big one to $f is missing"
	use_node base
	got=$(for k in 1 2 3; do "$FERRY" recv "from-$f"; done | sort | tr '\n' ,)
	expect_eq "from $f, each once" "$got" "$f up 1,$f up 2,$f up 3,"
	"$FERRY" recv "big-$f" | cmp -s - "$T/big" || it_fail "big from $f differs"
	use_node "$f"
	got=$(for k in 1 2 3; do "$FERRY" recv in; done | sort | tr '\n' ,)
	expect_eq "to $f, each once" "$got" "down 1,down 2,down 3,"
	"$FERRY" recv big | cmp -s - "$T/big" || it_fail "big to $f differs"
done
it_ok "both ways, big and small, through both proxies"

# --- the proxies carried it (not bypassed)
grep -q "GET http://127.0.0.1:$bport/ferry/v1/poll\|http://127.0.0.1:$bport/ferry/v1/poll" "$T/tinyproxy.log" ||
	it_fail "tinyproxy's log has no poll of field1: $(tail -n 5 "$T/tinyproxy.log")"
grep -q "PUT http://127.0.0.1:$bport/ferry/v1/out/" "$T/tinyproxy.log" ||
	it_fail "tinyproxy's log has no upload of field1"
it_ok "field1 went through tinyproxy (plain HTTP)"
grep -q "CONNECT localhost:$nport\|CONNECT 127.0.0.1:$nport" "$T/tinyproxy.log" ||
	it_fail "tinyproxy's log has no CONNECT of field2: $(grep -i connect "$T/tinyproxy.log" | tail -n 3)"
grep -q '"PUT /ferry/v1/out/' "$T/nginx/logs/access.log" ||
	it_fail "nginx's log has no upload: $(tail -n 3 "$T/nginx/logs/access.log")"
grep -q '"GET /ferry/v1/poll' "$T/nginx/logs/access.log" ||
	it_fail "nginx's log has no poll"
grep -q '"GET /ferry/v1/in/' "$T/nginx/logs/access.log" ||
	it_fail "nginx's log has no download"
it_ok "field2 went through tinyproxy (CONNECT) and nginx (TLS)"
if grep -q 'HTTP/2.0"' "$T/nginx/logs/access.log"; then
	it_note "field2 and nginx spoke HTTP/2"
fi

# --- a wrong CA: refused, said in ferry peers, nothing moves
stop_node field2
sed -i "s|^ca = .*|ca = $T/tls/other.pem|" "$T/field2/ferry.conf"
start_agent field2
echo nope | ferry_at field2 send base/nope >/dev/null || it_fail "send"
sleep 3
expect_eq "nothing crosses with the wrong CA" \
	"$(use_node base; queue_count nope)" 0
ferry_at field2 peers --json | json_get last_error | grep -qi 'certificate\|SSL\|issuer' ||
	it_fail "no certificate error in peers: $(ferry_at field2 peers --json)"
it_ok "a certificate not signed by the configured CA is refused"
it_check_alive "the end" base field1 field2
it_pass
