#!/usr/bin/env bash
# Refusals that need no upgrade (issue 8, items 3 and 5), each with a clear message:
#   - a corrupted event log: `replay` exits 2 naming file:line; `run` refuses to start and leaves the
#     log byte-identical (it would otherwise act on a history it cannot read);
#   - plaintext HTTP to a non-loopback server is refused before any request (tokens would cross
#     the network unencrypted), unless `run --allow-insecure-http` says otherwise;
#   - a server whose certificate the kubeconfig's CA did not sign: TLS verification fails, the
#     controller says so, and it reads nothing from that server;
#   - --database-sslmode verify-* without the CA bundle for the controller or for the Jobs.
#   refusals.sh QUAY_PG_UPGRADER KUBE_SIM
set -euo pipefail
ctl=$1
sim=$2
work=$(mktemp -d /tmp/qpu-refusals-XXXXXX)
sim_pid=
ctl_pid=
plain_sim_pid=
cleanup() {
  [ -n "$ctl_pid" ] && kill "$ctl_pid" 2>/dev/null || true
  [ -n "$plain_sim_pid" ] && kill "$plain_sim_pid" 2>/dev/null && wait "$plain_sim_pid" 2>/dev/null || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }

# ---- a corrupted event log
cat > "$work/loopback.kubeconfig" <<'EOF'
apiVersion: v1
kind: Config
current-context: c
clusters:
- name: c
  cluster: {server: "http://127.0.0.1:1"}
contexts:
- name: c
  context: {cluster: c, user: u}
users:
- name: u
  user: {token: not-a-real-token-0123456789}
EOF
log="$work/events.jsonl"
printf '%s\n' '{"seq":1,"ts":"2026-11-24T00:00:00.000Z","source":"timer","event":{"type":"timer_fired","registry":"quay/registry"}}' > "$log"
printf '%s\n' '{"seq":2,"ts":"2026-11-24T00:00:00.001Z","source":"watch/jobs","watch":{"type":"MODIF' >> "$log"
printf '%s\n' '{"seq":3,"ts":"2026-11-24T00:00:00.002Z","source":"timer","event":{"type":"timer_fired","registry":"quay/registry"}}' >> "$log"
before=$(sha256sum < "$log")
set +e
out=$("$ctl" replay "$log" 2>&1); rc=$?
set -e
[ "$rc" = 2 ] || fail "replay of a corrupted log exited $rc, expected 2: $out"
grep -q "events.jsonl:2" <<<"$out" || fail "replay's message does not name file:line: $out"
ok "replay refuses the corrupted log with exit 2: $(head -c 300 <<<"$out")"
set +e
out=$(timeout 20 "$ctl" run --kubeconfig "$work/loopback.kubeconfig" --namespace quay --event-log "$log" \
      --target-image quay.io/sclorg/postgresql-15-c9s 2>&1); rc=$?
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "run on a corrupted log exited $rc: $out"
grep -q "events.jsonl:2" <<<"$out" || fail "run's message does not name file:line: $out"
[ "$(sha256sum < "$log")" = "$before" ] || fail "run changed the corrupted log"
ok "run refuses to continue the corrupted log (exit $rc), log byte-identical: $(tail -c 300 <<<"$out")"

# ---- verifying the database's certificate without the CA to verify it against (issue 19, item 5)
for args in "--database-sslmode verify-full" "--database-sslmode verify-ca --database-ca-file $work/loopback.kubeconfig"; do
  set +e
  # shellcheck disable=SC2086  # the flags are words
  out=$(timeout 20 "$ctl" run --kubeconfig "$work/loopback.kubeconfig" --event-log "$work/tls.jsonl" \
        --target-image quay.io/sclorg/postgresql-15-c9s $args 2>&1); rc=$?
  set -e
  [ "$rc" = 2 ] || fail "run $args exited $rc, expected 2: $out"
  grep -q -- "needs --database-ca-" <<<"$out" || fail "run $args does not name the missing flag: $out"
  [ ! -e "$work/tls.jsonl" ] || fail "run $args wrote an event log before refusing"
  ok "run $args is refused before anything: $out"
done

# ---- plaintext to a non-loopback address
sed 's#http://127.0.0.1:1#http://192.0.2.10:8080#' "$work/loopback.kubeconfig" > "$work/remote-http.kubeconfig"
set +e
out=$(timeout 20 "$ctl" run --kubeconfig "$work/remote-http.kubeconfig" --namespace quay --event-log "$work/p.jsonl" \
      --target-image quay.io/sclorg/postgresql-15-c9s 2>&1); rc=$?
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "plaintext to 192.0.2.10 was not refused (exit $rc): $out"
grep -q "refusing plaintext" <<<"$out" || fail "the plaintext refusal does not say so: $out"
ok "plaintext to a non-loopback server refused (exit $rc): $(tail -c 250 <<<"$out")"

# ---- --allow-insecure-http lifts that refusal, and only that. Tests reach loopback only, so the
# server is named "127.1": the resolver (inet_aton's shorthand, in every glibc) maps it to
# 127.0.0.1, but it is not an address in the loopback check's strict sense (inet_pton, or
# "localhost"), so without the flag it is refused like any remote name. No host name or
# /etc/hosts entry is needed, so this check runs everywhere and is never skipped.
host=127.1
[ "$(getent hosts "$host" | awk '{print $1; exit}')" = 127.0.0.1 ] || fail "$host does not resolve to 127.0.0.1 here: $(getent hosts "$host")"
"$sim" serve --listen 127.0.0.1:0 --kubeconfig-out "$work/plain.kubeconfig" --no-runtime > "$work/plain-sim.log" 2>&1 &
plain_sim_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/plain-sim.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$work/plain-sim.log" || fail "plain kube-sim did not start: $(cat "$work/plain-sim.log")"
grep -q "server: http://127.0.0.1:" "$work/plain.kubeconfig" || fail "plain kube-sim's kubeconfig: $(cat "$work/plain.kubeconfig")"
sed "s#server: http://127.0.0.1:#server: http://$host:#" "$work/plain.kubeconfig" > "$work/by-name.kubeconfig"
set +e
out=$(timeout 20 "$ctl" run --kubeconfig "$work/by-name.kubeconfig" --namespace quay --event-log "$work/n.jsonl" \
      --target-image quay.io/sclorg/postgresql-15-c9s 2>&1); rc=$?
set -e
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "plaintext to http://$host (not a loopback name) was not refused (exit $rc): $out"
grep -q "refusing plaintext" <<<"$out" && grep -q -- "--allow-insecure-http" <<<"$out" ||
  fail "the refusal does not say so or does not name the flag: $out"
ok "without the flag, plaintext to http://$host:... is refused (exit $rc)"
"$ctl" run --allow-insecure-http --kubeconfig "$work/by-name.kubeconfig" --namespace quay --event-log "$work/a.jsonl" \
  --target-image quay.io/sclorg/postgresql-15-c9s > "$work/allow.log" 2>&1 &
ctl_pid=$!
# The controller's first act on a server is to list what it watches; a relist in its event
# log is data read over the plain connection.
for _ in $(seq 200); do grep -q '"relist"' "$work/a.jsonl" 2>/dev/null && break; kill -0 "$ctl_pid" 2>/dev/null || break; sleep 0.1; done
kill "$ctl_pid" 2>/dev/null || true
wait "$ctl_pid" 2>/dev/null || true
ctl_pid=
if grep -q "refusing plaintext" "$work/allow.log"; then fail "--allow-insecure-http did not lift the refusal: $(tail -5 "$work/allow.log")"; fi
grep -q '"relist"' "$work/a.jsonl" 2>/dev/null || fail "with --allow-insecure-http nothing was listed: $(tail -5 "$work/allow.log")"
grep -q "allow-insecure-http: talking plain HTTP to http://$host:" "$work/allow.log" || fail "no warning about the plain connection: $(tail -5 "$work/allow.log")"
ok "with --allow-insecure-http the controller lists over plain HTTP from http://$host:... and warns: $(grep -m1 'allow-insecure-http' "$work/allow.log" | tail -c 200)"

# ---- a wrong CA
"$sim" serve --listen 127.0.0.1:0 --tls --kubeconfig-out "$work/sim.kubeconfig" --no-runtime > "$work/sim.log" 2>&1 &
sim_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$work/sim.log" 2>/dev/null && break; sleep 0.1; done
grep -q "listening on" "$work/sim.log" || fail "kube-sim did not start: $(cat "$work/sim.log")"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$work/other.key" -out "$work/other.crt" \
  -days 1 -subj "/CN=some other CA" 2>/dev/null
other=$(base64 -w0 < "$work/other.crt")
sed "s#certificate-authority-data: .*#certificate-authority-data: $other#" "$work/sim.kubeconfig" > "$work/wrong-ca.kubeconfig"
grep -q "$other" "$work/wrong-ca.kubeconfig" || fail "could not swap the CA in the kubeconfig"
"$ctl" run --kubeconfig "$work/wrong-ca.kubeconfig" --namespace quay --event-log "$work/w.jsonl" \
  --target-image quay.io/sclorg/postgresql-15-c9s > "$work/ctl.log" 2>&1 &
ctl_pid=$!
for _ in $(seq 100); do grep -qi "certificate verify failed\|verify" "$work/ctl.log" && break; kill -0 "$ctl_pid" 2>/dev/null || break; sleep 0.1; done
kill "$ctl_pid" 2>/dev/null || true
wait "$ctl_pid" 2>/dev/null || true
ctl_pid=
grep -qi "certificate verify failed" "$work/ctl.log" || fail "no clear TLS verification error: $(tail -5 "$work/ctl.log")"
if grep -q '"relist"' "$work/w.jsonl" 2>/dev/null; then fail "the controller accepted data from a server it could not verify"; fi
ok "a server certificate from another CA is refused: $(grep -i -m1 'certificate verify failed' "$work/ctl.log" | tail -c 300)"
echo "PASS refusals"
