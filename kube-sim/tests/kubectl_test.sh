#!/usr/bin/env bash
# Stock kubectl against kube-sim: get, get -o json, create -f, apply -f (twice, with a change),
# patch --type=merge, delete and get -w seeing a change; typed commands sending and receiving
# protobuf; rollout status, wait, logs and describe against the workload runtime; the Accept header
# negotiated as the apiserver does.
# Usage: kubectl_test.sh KUBE_SIM_BINARY plain|tls
set -euo pipefail
sim=$1
mode=$2
work=$(mktemp -d)
sim_pid=""
watch_pid=""
cleanup() {
  [ -n "$watch_pid" ] && kill "$watch_pid" 2>/dev/null || true
  [ -n "$sim_pid" ] && kill "$sim_pid" 2>/dev/null && wait "$sim_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect "<what>" "<actual>" "<wanted>"
  [ "$2" = "$3" ] || fail "$1: got '$2', wanted '$3'"
  echo "ok: $1"
}

flags=(--listen 127.0.0.1:0 --kubeconfig-out "$work/kubeconfig" --runtime-dir "$work/runtime")
[ "$mode" = tls ] && flags+=(--tls)
mkfifo "$work/out"
"$sim" serve "${flags[@]}" >"$work/out" &
sim_pid=$!
read -r -t 10 line <"$work/out" || fail "kube-sim did not start"
url=${line#kube-sim listening on }
case "$mode:$url" in plain:http://*|tls:https://*) ;; *) fail "unexpected url $url for $mode" ;; esac
export KUBECONFIG=$work/kubeconfig
k() { kubectl --request-timeout=10s "$@"; }
curl_args=(-s)
if [ "$mode" = tls ]; then
  grep certificate-authority-data "$KUBECONFIG" | awk '{print $2}' | base64 -d >"$work/ca.crt"
  token=$(awk '/token:/ {print $2}' "$KUBECONFIG")
  curl_args+=(--cacert "$work/ca.crt" -H "Authorization: Bearer $token")
fi
api() { curl "${curl_args[@]}" "$@"; }
# answer ACCEPT PATH [curl args]: "<status> <content type> <first 4 bytes>" of the answer.
answer() {
  local accept=$1 path=$2
  shift 2
  api -o "$work/body" -w '%{http_code} %{content_type} ' -H "Accept: $accept" "$@" "$url$path"
  /usr/bin/python3 -c 'import sys; print(repr(open(sys.argv[1], "rb").read()[:4])[1:])' "$work/body"
}

cat >"$work/cm.yaml" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
  labels: {app: quay}
data:
  key: one
YAML
cat >"$work/deploy.yaml" <<'YAML'
apiVersion: apps/v1
kind: Deployment
metadata:
  name: registry-quay-database
  labels: {quay-component: postgres}
spec:
  replicas: 1
  strategy: {type: Recreate}
  selector: {matchLabels: {quay-component: postgres}}
  template:
    metadata: {labels: {quay-component: postgres}}
    spec:
      containers:
      - name: postgres
        image: quay.io/sclorg/postgresql-10-c8s
        env: [{name: POSTGRESQL_USER, value: quay}]
      - name: sidecar
        image: busybox
YAML
cat >"$work/quay.yaml" <<'YAML'
apiVersion: quay.redhat.com/v1
kind: QuayRegistry
metadata:
  name: registry
spec:
  components: [{kind: postgres, managed: true}]
YAML

expect "get namespaces" "$(k get ns -o name | sort | tr '\n' ' ')" "namespace/default namespace/kube-system "
expect "create -f" "$(k create -f "$work/cm.yaml")" "configmap/settings created"
expect "create -f twice is AlreadyExists" "$(k create -f "$work/cm.yaml" 2>&1 | grep -c AlreadyExists || true)" "1"
expect "get -o json" "$(k get configmap settings -o json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["data"]["key"], d["metadata"]["labels"]["app"])')" "one quay"
expect "get table" "$(k get configmaps --no-headers | awk '{print $1}')" "settings"

expect "apply -f creates" "$(k apply -f "$work/deploy.yaml")" "deployment.apps/registry-quay-database created"
expect "apply -f again is unchanged" "$(k apply -f "$work/deploy.yaml")" "deployment.apps/registry-quay-database unchanged"
sed -i 's/postgresql-10-c8s/postgresql-13-c9s/' "$work/deploy.yaml"
expect "apply -f with a change" "$(k apply -f "$work/deploy.yaml")" "deployment.apps/registry-quay-database configured"
expect "the change landed, the sidecar stayed" \
  "$(k get deploy registry-quay-database -o jsonpath='{.spec.template.spec.containers[*].image} {.metadata.generation}')" \
  "quay.io/sclorg/postgresql-13-c9s busybox 2"

# kubectl scale: the deployments/scale subresource (autoscaling/v1 Scale), as kubectl finds it in
# discovery; --current-replicas is a precondition the server checks through the resourceVersion.
expect "scale" "$(k scale deployment registry-quay-database --replicas=0)" "deployment.apps/registry-quay-database scaled"
expect "scaled to 0" "$(k get deploy registry-quay-database -o jsonpath='{.spec.replicas}')" "0"
expect "the Scale object" "$(k get --raw /apis/apps/v1/namespaces/default/deployments/registry-quay-database/scale |
  /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["kind"], d["spec"]["replicas"], d["status"]["selector"])')" \
  "Scale 0 quay-component=postgres"
expect "scale --current-replicas that holds" \
  "$(k scale deployment registry-quay-database --current-replicas=0 --replicas=2)" "deployment.apps/registry-quay-database scaled"
expect "scale --current-replicas that does not hold is refused" \
  "$(k scale deployment registry-quay-database --current-replicas=5 --replicas=1 2>&1 | grep -c 'Expected replicas to be 5, was 2' || true)" "1"
expect "still 2" "$(k get deploy registry-quay-database -o jsonpath='{.spec.replicas}')" "2"
expect "scale of a missing Deployment is refused" "$(k scale deployment nope --replicas=1 2>&1 | grep -c 'deployments.apps \"nope\" not found' || true)" "1"

# kubectl's typed commands send protobuf bodies (application/vnd.kubernetes.protobuf), read with
# the Kubernetes API's own .proto files: core/v1 with bytes (Secret), IntOrString (a Service's
# targetPort), apps/v1, batch/v1 and rbac/v1; they ask for `application/vnd.kubernetes.protobuf,
# application/json` and are answered in protobuf, which kubectl decodes to print its line.
# -v=8 shows the headers each request was sent with and each answer came back with.
kv() { k -v=8 "$@" 2>"$work/create.log"; }
# One line per request of the last kv: METHOD PATH SENT-TYPE ANSWERED-TYPE (- when none).
exchanges() {
  awk '
    function short(t) { sub(/;.*/, "", t); return t == "application/vnd.kubernetes.protobuf" ? "protobuf" : t == "application/json" ? "json" : t }
    / (GET|POST|PUT|PATCH|DELETE) https?:\/\// { if (m) print m, p, s, a; m = $(NF - 1); p = $NF; sub(/^https?:\/\/[^\/]*/, "", p); sub(/\?.*/, "", p); s = a = "-"; part = ""; next }
    /Request Headers:$/ { part = "s"; next }
    /Response Headers:$/ { part = "a"; next }
    !/\]     [A-Za-z-]+: / { part = "" }
    part == "s" && /\]     Content-Type: / { s = short($NF) }
    part == "a" && /\]     Content-Type: / { a = short($NF) }
    END { if (m) print m, p, s, a }' "$work/create.log"
}
posted() { exchanges | awk '$1 == "POST" { print "sent", $3, "answered", $4 }'; }
expect "create namespace (protobuf both ways)" "$(kv create namespace team-a) | $(posted)" \
  "namespace/team-a created | sent protobuf answered protobuf"
expect "the namespace" "$(k get ns team-a -o jsonpath='{.metadata.name} {.status.phase}')" "team-a Active"
expect "an error answered in protobuf (meta/v1 Status)" "$(kv create namespace team-a; grep -o 'Error from server.*' "$work/create.log") | $(posted)" \
  'Error from server (AlreadyExists): namespaces "team-a" already exists | sent protobuf answered protobuf'
expect "create configmap (protobuf both ways)" "$(kv create configmap cfg --from-literal=a=1 --from-literal=b='two words') | $(posted)" \
  "configmap/cfg created | sent protobuf answered protobuf"
expect "its data" "$(k get configmap cfg -o jsonpath='{.data.a}|{.data.b}')" "1|two words"
expect "create secret (protobuf both ways)" \
  "$(kv create secret generic creds --from-literal=password='s3cr3t!' --from-literal=user=quay) | $(posted)" \
  "secret/creds created | sent protobuf answered protobuf"
expect "its bytes, base64 in JSON" "$(k get secret creds -o jsonpath='{.data.password}' | base64 -d) $(k get secret creds -o jsonpath='{.type}')" \
  "s3cr3t! Opaque"
expect "create service (protobuf both ways)" "$(kv create service clusterip web --tcp=80:8080 --tcp=443:https) | $(posted)" \
  "service/web created | sent protobuf answered protobuf"
expect "its ports: a number and a name (IntOrString)" \
  "$(k get svc web -o json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print([(p["port"], p["targetPort"]) for p in d["spec"]["ports"]])')" \
  "[(80, 8080), (443, 'https')]"
expect "create deployment (protobuf both ways, apps/v1)" \
  "$(kv create deployment web --image=quay.io/example/web:1 --replicas=3 --port=8080) | $(posted)" \
  "deployment.apps/web created | sent protobuf answered protobuf"
expect "its spec" "$(k get deploy web -o jsonpath='{.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers[0].image} {.spec.template.spec.containers[0].ports[0].containerPort}')" \
  "3 web quay.io/example/web:1 8080"
expect "create job (protobuf both ways, batch/v1)" "$(kv create job once --image=quay.io/example/tool:1 -- echo hi there) | $(posted)" \
  "job.batch/once created | sent protobuf answered protobuf"
expect "its command" "$(k get job once -o jsonpath='{.spec.template.spec.containers[0].command}')" '["echo","hi","there"]'
expect "create role (protobuf both ways, rbac/v1)" "$(kv create role reader --verb=get,list --resource=pods) | $(posted)" \
  "role.rbac.authorization.k8s.io/reader created | sent protobuf answered protobuf"
expect "its rule" "$(k get role reader -o jsonpath='{.rules[0].verbs} {.rules[0].resources}')" '["get","list"] ["pods"]'
expect "create serviceaccount (protobuf both ways)" "$(kv create serviceaccount robot) | $(posted)" \
  "serviceaccount/robot created | sent protobuf answered protobuf"
expect "get -o yaml of an object created in protobuf" "$(k get configmap cfg -o yaml | grep -E '^  (a|b):' | tr '\n' ' ')" '  a: "1"   b: two words '
expect "get (a table) of Deployments" "$(k get deployments --no-headers | awk '{print $1}' | sort | tr '\n' ' ')" "registry-quay-database web "

# The apiserver's content negotiation: protobuf when the Accept header prefers it and the kind has
# a message, JSON for JSON and for */* (its first media type).
expect "Accept protobuf: the envelope" "$(answer application/vnd.kubernetes.protobuf /api/v1/namespaces/default/configmaps/cfg)" \
  "200 application/vnd.kubernetes.protobuf 'k8s\\x00'"
expect "Accept JSON: JSON" "$(answer application/json /api/v1/namespaces/default/configmaps/cfg)" "200 application/json '{\"ap'"
expect "Accept */*: JSON" "$(answer '*/*' /api/v1/namespaces/default/configmaps/cfg)" "200 application/json '{\"ap'"
expect "Accept YAML: YAML" "$(answer application/yaml /api/v1/namespaces/default/configmaps/cfg)" "200 application/yaml 'apiV'"
expect "Accept YAML: the object, a string that reads as a number quoted" \
  "$(grep -E '^(kind: |  a: |  b: )' "$work/body" | tr '\n' ' ')" '  a: "1"   b: two words kind: ConfigMap '
expect "Accept YAML on a watch: 406 (watches stream JSON or protobuf)" \
  "$(answer application/yaml '/api/v1/namespaces/default/configmaps?watch=1&timeoutSeconds=1' | cut -d' ' -f1)" "406"
expect "Accept protobuf for a list: the envelope" "$(answer 'application/vnd.kubernetes.protobuf, application/json' /api/v1/namespaces/default/configmaps)" \
  "200 application/vnd.kubernetes.protobuf 'k8s\\x00'"
if [ "$mode" = plain ]; then
  expect "a protobuf body that is no Kubernetes envelope is refused, saying why" \
    "$(printf 'garbage' | curl -s -X POST -H 'Content-Type: application/vnd.kubernetes.protobuf' --data-binary @- \
      "$url/api/v1/namespaces/default/configmaps" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["code"], d["message"])')" \
    "400 the body of the request could not be decoded as protobuf: the protobuf body does not start with the Kubernetes envelope (k8s\\0)"
fi

expect "apply -f custom resource" "$(k apply -f "$work/quay.yaml")" "quayregistry.quay.redhat.com/registry created"
sed -i 's/managed: true/managed: false/' "$work/quay.yaml"
expect "apply -f custom resource again" "$(k apply -f "$work/quay.yaml")" "quayregistry.quay.redhat.com/registry configured"
expect "custom resource merged" "$(k get quayregistry registry -o jsonpath='{.spec.components[0].managed}')" "false"
# A custom resource has no protobuf message: JSON when the client takes JSON too, 406 when it asks
# for protobuf alone, answered before anything is written (as the apiserver's CRD handler does).
quay_path=/apis/quay.redhat.com/v1/namespaces/default/quayregistries
expect "custom resource, Accept protobuf or JSON: JSON" "$(answer 'application/vnd.kubernetes.protobuf, application/json' $quay_path/registry)" \
  "200 application/json '{\"ap'"
expect "custom resource, Accept protobuf alone: 406" \
  "$(api -H 'Accept: application/vnd.kubernetes.protobuf' "$url$quay_path/registry" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["code"], d["reason"], d["message"])')" \
  "406 NotAcceptable only the following media types are accepted: application/json, application/yaml"
expect "custom resource created with Accept protobuf alone: 406, nothing written" \
  "$(answer application/vnd.kubernetes.protobuf $quay_path -X POST -H 'Content-Type: application/json' \
      -d '{"apiVersion": "quay.redhat.com/v1", "kind": "QuayRegistry", "metadata": {"name": "other"}}' | cut -d' ' -f1) $(k get quayregistry other 2>&1 | grep -c NotFound)" \
  "406 1"
expect "server-side apply" "$(k apply --server-side -f "$work/cm.yaml")" "configmap/settings serverside-applied"

expect "patch --type=merge" "$(k patch configmap settings --type=merge -p '{"data":{"key":"two"}}')" "configmap/settings patched"
expect "patched value" "$(k get configmap settings -o jsonpath='{.data.key}')" "two"

# get -w: the watcher prints the current value, then the change made while it runs.
k get configmap settings -w -o jsonpath='{.data.key}{"\n"}' >"$work/watch.txt" 2>&1 &
watch_pid=$!
for _ in $(seq 50); do grep -q two "$work/watch.txt" && break; sleep 0.1; done
k patch configmap settings --type=merge -p '{"data":{"key":"three"}}' >/dev/null
for _ in $(seq 50); do grep -q three "$work/watch.txt" && break; sleep 0.1; done
kill "$watch_pid" 2>/dev/null || true
wait "$watch_pid" 2>/dev/null || true
watch_pid=""
expect "get -w saw the change" "$(tr '\n' ' ' <"$work/watch.txt")" "two three "

expect "delete" "$(k delete configmap settings)" 'configmap "settings" deleted'
expect "deleted is NotFound" "$(k get configmap settings 2>&1 | grep -c NotFound || true)" "1"
expect "delete -f" "$(k delete -f "$work/quay.yaml")" 'quayregistry.quay.redhat.com "registry" deleted'

# The workload runtime runs a pod; kubectl follows it as a person would. rollout status and wait
# watch in JSON; logs lists the Deployment's pods and describe reads it and its events through
# typed clients, answered in protobuf (so every field the runtime writes has its place in the
# messages: a condition's time field of another kind would send kubectl back to JSON).
k create deployment hello --image=busybox -- sh -c 'echo hello from kube-sim; sleep 3600' >/dev/null
expect "rollout status" "$(k rollout status deployment/hello --timeout=60s)" 'deployment "hello" successfully rolled out'
expect "wait" "$(k wait --for=condition=Available deployment/hello --timeout=30s)" "deployment.apps/hello condition met"
expect "logs (its pods listed in protobuf)" "$(kv logs deployment/hello) | $(exchanges | awk '$2 == "/api/v1/namespaces/default/pods" { print $4 }')" \
  "hello from kube-sim | protobuf"
expect "describe (the Deployment and its events in protobuf)" \
  "$(kv describe deployment hello | grep -cE '^(Name: +hello|Replicas: +1 desired \| 1 updated \| 1 total \| 1 available)') | $(exchanges | awk '$4 == "protobuf" { print $1, $2 }' | sort -u | tr '\n' ' ')" \
  "2 | GET /api/v1/namespaces/default/events GET /apis/apps/v1/namespaces/default/deployments/hello "
# Every object of a kind with a message, as kube-sim holds it after all of the above, has its place
# in that message: answered in protobuf to a client that takes nothing else.
for kind in api/v1/namespaces api/v1/pods api/v1/services api/v1/secrets api/v1/configmaps api/v1/events api/v1/serviceaccounts \
  apis/apps/v1/deployments apis/batch/v1/jobs apis/rbac.authorization.k8s.io/v1/roles; do
  expect "every $kind in protobuf" "$(answer application/vnd.kubernetes.protobuf /$kind)" "200 application/vnd.kubernetes.protobuf 'k8s\\x00'"
done

if [ "$mode" = tls ]; then
  code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$work/ca.crt" "$@"; }
  expect "no token is 401" "$(code "$url/api/v1/namespaces")" "401"
  expect "a wrong token is 401" "$(code -H 'Authorization: Bearer wrong' "$url/api/v1/namespaces")" "401"
  expect "the right token is 200" "$(code -H "Authorization: Bearer $token" "$url/api/v1/namespaces")" "200"
fi
echo "kubectl against kube-sim ($mode): all checks passed"
