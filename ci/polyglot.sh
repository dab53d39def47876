#!/usr/bin/env bash
# ci/polyglot.sh: the proto's buf gates and the polyglot client test.
#
# Installs what it needs under target/ (buf from npm, pinned by ci/buf/package.json; a Python
# virtualenv with tests/polyglot/requirements.txt), builds the release binary when it is
# missing or older than the sources, then:
#   1. buf lint                      (buf.yaml: STANDARD + COMMENTS, two documented exceptions)
#   2. buf format --diff --exit-code
#   3. buf breaking (FILE policy) against the stored image ci/buf/baseline.json, and against
#      the proto of the previous commit when git history has it (see breaking_against_git)
#   4. tests/polyglot/test_polyglot.py: a Python grpcio client and buf curl against
#      `zoloz-verdict demo`
#   5. tests/polyglot/ts: the README's TypeScript recipe (protoc-gen-es stubs, Connect-ES gRPC
#      transport; packages pinned by its package-lock.json, installed into target/polyglot/ts),
#      compiled with tsc --strict and run with node --test against `zoloz-verdict demo`
#   6. tests/polyglot/go: the README's Go recipe (buf managed mode, protoc-gen-go and
#      protoc-gen-go-grpc), go vet and go test against `zoloz-verdict demo`. Go and the Go
#      packages come from Debian (apt-get; this network reaches Debian's registry, not the Go
#      module proxy), so the test builds in GOPATH mode under target/polyglot/go.
#   7. tests/polyglot/java: the README's Java recipe (protoc's Java generator and
#      protoc-gen-grpc-java through buf), javac -Werror, and the client run with grpc-java over
#      Netty against `zoloz-verdict demo`; then SdkStyleClient, which talks to
#      `zoloz-verdict simulator` the way ZOLOZ's Java SDK does (JDK only). The JDK, grpc-java and its jars come from Debian too
#      (Maven Central is not reachable here), under target/polyglot/java.
# Needs bash, git, cargo, Node 20+/npm, Python 3.11 with venv and pip, and for steps 6 and 7
# Debian's apt-get as root (without it, they are skipped outside CI and fail in CI). Idempotent: a
# second run reuses target/buf, the virtualenv, target/polyglot/ts/node_modules, the Go
# packages and the binary.
#
#   bash ci/polyglot.sh                    # everything
#   bash ci/polyglot.sh --update-baseline  # after a release: store the current API as the
#                                          # baseline that buf breaking compares with
# ZOLOZ_VERDICT_BIN=path uses that binary instead of building target/release/zoloz-verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

BUF_DIR=target/buf
BUF=$ROOT/$BUF_DIR/node_modules/.bin/buf
VENV=target/polyglot/venv
TS=target/polyglot/ts
GO=target/polyglot/go
JAVA=target/polyglot/java
BASELINE=ci/buf/baseline.json
BIN=${ZOLOZ_VERDICT_BIN:-${CARGO_TARGET_DIR:-target}/release/zoloz-verdict}
checked=()

step() { printf '\n=== polyglot: %s\n' "$*"; }
note() { printf '%s\n' "$*"; }

install_buf() {
  local want have=""
  want=$(node -p "require('./ci/buf/package.json').devDependencies['@bufbuild/buf']")
  if [[ -x $BUF ]]; then have=$("$BUF" --version 2>/dev/null || true); fi
  if [[ $have == "$want" ]]; then
    note "buf $have already in $BUF_DIR"
    return
  fi
  # A copy of the manifest and lockfile, so that node_modules lands under target/. `npm ci`
  # would be stricter, but it refuses a lockfile that lacks the platform packages of other
  # systems (darwin, win32), which registry mirrors often do not carry; `npm install` still
  # checks the locked integrity of every package it installs.
  mkdir -p "$BUF_DIR"
  cp ci/buf/package.json ci/buf/package-lock.json "$BUF_DIR/"
  (cd "$BUF_DIR" && npm install --no-audit --no-fund --loglevel=error)
  have=$("$BUF" --version)
  [[ $have == "$want" ]] || { echo "installed buf $have, wanted $want" >&2; exit 1; }
  note "installed buf $have into $BUF_DIR"
}

install_python() {
  if [[ ! -x $VENV/bin/python ]]; then
    python3 -m venv "$VENV"
  fi
  # Reinstall only when the pins changed since the last install.
  if ! cmp -s tests/polyglot/requirements.txt "$VENV/installed-requirements.txt"; then
    "$VENV/bin/python" -m pip install --disable-pip-version-check --quiet \
      -r tests/polyglot/requirements.txt
    cp tests/polyglot/requirements.txt "$VENV/installed-requirements.txt"
  fi
  note "python: $("$VENV/bin/python" --version), $("$VENV/bin/python" -m pip freeze \
    --disable-pip-version-check | grep -E '^grpcio==|^protobuf==' | paste -sd' ')"
}

install_ts() {
  mkdir -p "$TS"
  # Reinstall only when the lockfile changed since the last install (npm rewrites its copy).
  if [[ ! -x $TS/node_modules/.bin/tsc ]] \
    || ! cmp -s tests/polyglot/ts/package-lock.json "$TS/installed-package-lock.json"; then
    cp tests/polyglot/ts/package.json tests/polyglot/ts/package-lock.json "$TS/"
    (cd "$TS" && npm install --no-audit --no-fund --loglevel=error)
    cp tests/polyglot/ts/package-lock.json "$TS/installed-package-lock.json"
  fi
  local package versions=""
  for package in @bufbuild/protobuf @connectrpc/connect-node typescript; do
    versions+=", $package $(node -p "require('./$TS/node_modules/$package/package.json').version")"
  done
  note "node $(node --version)$versions"
}

# google/rpc/error_details.proto (ErrorInfo, BadRequest) from the venv's googleapis-common-protos:
# the TypeScript and Java clients generate their own error detail types from it.
error_details_proto() {
  "$VENV/bin/python" -c \
    'import google.rpc, pathlib; print(pathlib.Path(google.rpc.__path__[0], "error_details.proto"))'
}

# The TypeScript client: fresh stubs (the service's proto, and google/rpc/error_details.proto
# from the venv's googleapis-common-protos for ErrorInfo), tsc --strict, node --test.
run_ts() {
  local details bin
  bin=$(realpath "$BIN")
  details=$(error_details_proto)
  rm -rf "$TS/gen" "$TS/dist" "$TS/googleapis"
  mkdir -p "$TS/googleapis/google/rpc"
  cp "$details" "$TS/googleapis/google/rpc/"
  cp tests/polyglot/ts/buf.gen.yaml tests/polyglot/ts/tsconfig.json \
    tests/polyglot/ts/polyglot.test.ts "$TS/"
  (
    cd "$TS"
    "$BUF" generate --template buf.gen.yaml
    node_modules/.bin/tsc -p .
    ZOLOZ_VERDICT_BIN=$bin ZOLOZ_VERDICT_ROOT=$ROOT node --test dist/polyglot.test.js
  )
}

# The Go toolchain and packages of step 6, from Debian bookworm: Go 1.19, grpc-go 1.33,
# protobuf-go 1.28 (and github.com/golang/protobuf 1.5, its APIv1 face, which grpc-go 1.33
# uses: 1.3 cannot read messages made by protoc-gen-go 1.28), genproto for errdetails, and the
# two code generators. Prints nothing and returns 1 when they cannot be installed here.
GO_PACKAGES=(golang-go golang-google-grpc-dev golang-google-protobuf-dev
  golang-github-golang-protobuf-1-5-dev golang-google-genproto-dev protoc-gen-go
  protoc-gen-go-grpc)
install_go() {
  install_debian "${GO_PACKAGES[@]}" || return 1
  note "$(go version), $(protoc-gen-go --version), $(protoc-gen-go-grpc --version)"
}

# Installs Debian packages that are missing (apt-get as root, or sudo -n). Returns 1 when it
# cannot install here.
install_debian() {
  local missing=() package
  for package in "$@"; do
    if [[ $(dpkg-query -W -f='${Status}' "$package" 2>/dev/null) != "install ok installed" ]]; then
      missing+=("$package")
    fi
  done
  if [[ ${#missing[@]} -gt 0 ]]; then
    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
      if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n); else return 1; fi
    fi
    command -v apt-get >/dev/null || return 1
    note "apt-get install ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; then
      "${sudo[@]}" apt-get update -q >/dev/null
      "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
  fi
}

# The Go client: a GOPATH with the stubs generated by the README's recipe (its buf.gen.yaml,
# with the import path zvpolyglot/gen/go) next to the test, and Debian's packages after it.
run_go() {
  local gopath bin
  gopath=$ROOT/$GO
  bin=$(realpath "$BIN")
  rm -rf "$GO/src"
  mkdir -p "$GO/src/zvpolyglot"
  cp tests/polyglot/go/buf.gen.yaml tests/polyglot/go/polyglot_test.go "$GO/src/zvpolyglot/"
  (
    cd "$GO/src/zvpolyglot"
    "$BUF" generate --template buf.gen.yaml
    export GO111MODULE=off GOPATH=$gopath:/usr/share/gocode GOCACHE=$gopath/cache GOFLAGS=
    unformatted=$(gofmt -l .)
    [[ -z $unformatted ]] || { echo "gofmt: $unformatted" >&2; exit 1; }
    go vet .
    ZOLOZ_VERDICT_BIN=$bin ZOLOZ_VERDICT_ROOT=$ROOT go test -count=1 -timeout 300s -v .
  )
}

# The Java toolchain and packages of step 7, from Debian bookworm: OpenJDK 17, protoc 3.21 and
# protobuf-java 3.21, grpc-java 1.41 (with its Netty transport and protoc-gen-grpc-java) and
# the jars grpc-java needs at run time that Debian does not pull in (perfmark, gson), the
# javax.annotation.Generated that grpc-java 1.41's stubs carry, and the health proto.
JAVA_PACKAGES=(default-jdk-headless protobuf-compiler libprotobuf-java libgrpc-java
  protobuf-compiler-grpc-java-plugin libnetty-java libguava-java libgoogle-common-protos-java
  libperfmark-java libgoogle-gson-java liberror-prone-java libgeronimo-annotation-1.3-spec-java
  grpc-proto)
JAVA_JARS=(protobuf proto-google-common-protos grpc-api grpc-context grpc-core grpc-netty
  grpc-protobuf grpc-protobuf-lite grpc-stub guava error_prone_annotations
  geronimo-annotation-1.3-spec perfmark-api gson netty-common netty-buffer netty-transport
  netty-codec netty-codec-http netty-codec-http2 netty-handler netty-resolver)
install_java() {
  install_debian "${JAVA_PACKAGES[@]}" || return 1
  note "$(javac -version 2>&1), $(protoc --version), grpc-java \
$(dpkg-query -W -f='${Version}' libgrpc-java)"
}

# The Java client: fresh stubs (the README's recipe through buf, with the health proto and
# error_details.proto beside the service's), javac -Werror, then the client against the demo.
run_java() {
  local details bin classpath="" jar
  bin=$(realpath "$BIN")
  for jar in "${JAVA_JARS[@]}"; do
    [[ -f /usr/share/java/$jar.jar ]] || { echo "no /usr/share/java/$jar.jar" >&2; exit 1; }
    classpath+=${classpath:+:}/usr/share/java/$jar.jar
  done
  details=$(error_details_proto)
  rm -rf "$JAVA"
  mkdir -p "$JAVA/googleapis/google/rpc" "$JAVA/health/grpc/health/v1" "$JAVA/classes"
  cp "$details" "$JAVA/googleapis/google/rpc/"
  cp /usr/share/grpc-proto/grpc/health/v1/health.proto "$JAVA/health/grpc/health/v1/"
  cp tests/polyglot/java/buf.gen.yaml tests/polyglot/java/PolyglotClient.java \
    tests/polyglot/java/SdkStyleClient.java "$JAVA/"
  (
    cd "$JAVA"
    "$BUF" generate --template buf.gen.yaml
    # -processing: no annotation processors; -serial: generated messages carry no serialVersionUID.
    javac -Werror -Xlint:all,-processing,-serial -d classes -cp "$classpath" \
      $(find gen -name '*.java') PolyglotClient.java
    ZOLOZ_VERDICT_BIN=$bin ZOLOZ_VERDICT_ROOT=$ROOT java -cp "classes:$classpath" PolyglotClient
    # ZOLOZ's side: a client that talks to `zoloz-verdict simulator` as ZOLOZ's Java SDK does
    # (exact header names from HttpURLConnection, java.security signatures), JDK only.
    mkdir -p sdk-classes
    javac -Werror -Xlint:all -d sdk-classes SdkStyleClient.java
    ZOLOZ_VERDICT_BIN=$bin ZOLOZ_VERDICT_ROOT=$ROOT java -cp sdk-classes SdkStyleClient
  )
}

build_binary() {
  if [[ -n ${ZOLOZ_VERDICT_BIN:-} ]]; then
    [[ -x $BIN ]] || { echo "ZOLOZ_VERDICT_BIN=$BIN is not an executable" >&2; exit 1; }
    note "using $BIN (ZOLOZ_VERDICT_BIN)"
    return
  fi
  local why=""
  if [[ ! -x $BIN ]]; then
    why="missing"
  elif [[ -n $(find src proto build.rs Cargo.toml Cargo.lock -newer "$BIN" -print -quit) ]]; then
    why="older than the sources"
  fi
  if [[ -n $why ]]; then
    note "$BIN is $why: cargo build --release --locked"
    cargo build --release --locked
  else
    note "$BIN is up to date"
  fi
}

# The commit whose proto `buf breaking` compares with, from git: on a branch, where it left
# main (so that additions made on main since are not reported as deletions); on main itself
# (after a merge), the previous main commit (the first parent). Prints nothing when history
# does not have it: a shallow clone (CI checkouts are often depth 1) has neither main's
# history nor HEAD^1. The stored baseline covers that case.
breaking_base() {
  local head ref base=""
  head=$(git rev-parse HEAD)
  for ref in main origin/main; do
    if git rev-parse -q --verify "$ref^{commit}" >/dev/null; then
      base=$(git merge-base HEAD "$ref" 2>/dev/null || true)
      break
    fi
  done
  if [[ -z $base || $base == "$head" ]]; then
    base=$(git rev-parse -q --verify 'HEAD^1^{commit}' 2>/dev/null || true)
  fi
  if [[ -n $base ]] && git cat-file -e "$base:proto/zoloz/verdict/v1/verdict_service.proto" 2>/dev/null; then
    echo "$base"
  fi
}

update_baseline() {
  # Without source info (comments and line numbers do not matter to compatibility); with
  # imports (buf needs the well-known types to read the image back). Pretty, for review.
  "$BUF" build --exclude-source-info -o -#format=json \
    | python3 -c 'import json, sys; json.dump(json.load(sys.stdin), sys.stdout, indent=1); print()' \
    >"$BASELINE"
  note "wrote $BASELINE from proto/"
}

start=$SECONDS

step "install buf"
install_buf

if [[ ${1:-} == --update-baseline ]]; then
  update_baseline
  exit 0
fi

step "buf lint"
"$BUF" lint
checked+=("buf lint: STANDARD + COMMENTS (except RPC_RESPONSE_STANDARD_NAME, RPC_REQUEST_RESPONSE_UNIQUE)")

step "buf format"
"$BUF" format --diff --exit-code
checked+=("buf format --diff --exit-code: the proto is formatted")

step "buf breaking"
"$BUF" breaking --against "$BASELINE"
checked+=("buf breaking (FILE) against the stored baseline $BASELINE")
base=$(breaking_base)
if [[ -n $base ]]; then
  # subdir=proto: the module root, whether or not that commit had buf.yaml.
  "$BUF" breaking --against ".git#ref=$base,subdir=proto"
  checked+=("buf breaking (FILE) against the proto of commit ${base:0:12}")
else
  note "no earlier commit in this clone's history (shallow?): checked against the baseline only"
  checked+=("buf breaking against git history: skipped, no earlier commit in this clone")
fi

step "python client"
install_python

step "release binary"
build_binary

step "polyglot test (Python grpcio client and buf curl against zoloz-verdict demo)"
ZOLOZ_VERDICT_BIN=$BIN BUF=$BUF PYTHONDONTWRITEBYTECODE=1 \
  "$VENV/bin/python" tests/polyglot/test_polyglot.py -v
checked+=("Python stubs generated by grpcio-tools from proto/ (in a temp dir)")
checked+=("health SERVING for \"\" and zoloz.verdict.v1.VerdictService")
checked+=("reflection (v1alpha) lists and describes zoloz.verdict.v1.VerdictService")
checked+=("Get: APPROVED for each product's sim-<product>-approve; REJECTED with DOC_TAMPERED")
checked+=("Watch: PENDING then APPROVED, then the stream ends OK")
checked+=("Evaluate: tests/fixtures/seeds/connect.response.json is APPROVED")
checked+=("error: empty transaction id is INVALID_ARGUMENT; grpc-status-details-bin holds ErrorInfo INVALID_REQUEST / zoloz-verdict and a BadRequest")
checked+=("buf curl via reflection: the README's Get, Watch and Evaluate examples")
checked+=("demo stops on SIGTERM with exit code 0")

step "typescript client (protoc-gen-es stubs, Connect-ES gRPC transport, node --test)"
install_ts
run_ts
checked+=("TypeScript stubs generated by protoc-gen-es (target=ts) compile under tsc --strict")
checked+=("TypeScript: Get APPROVED for every product, REJECTED with DOC_TAMPERED and its evidence")
checked+=("TypeScript: Watch PENDING then APPROVED then the end; Evaluate of the seed fixture")
checked+=("TypeScript: INVALID_ARGUMENT with ErrorInfo (findDetails) and a BadRequest; demo exits 0 on SIGTERM")

step "go client (protoc-gen-go and protoc-gen-go-grpc stubs, grpc-go, go test)"
if install_go; then
  run_go
  checked+=("Go stubs generated by protoc-gen-go and protoc-gen-go-grpc (buf managed mode, the README's recipe) pass gofmt and go vet")
  checked+=("Go: health SERVING; Get APPROVED for every product, REJECTED with DOC_TAMPERED and its evidence")
  checked+=("Go: Watch PENDING then APPROVED then io.EOF; Evaluate of the seed fixture")
  checked+=("Go: INVALID_ARGUMENT with ErrorInfo and a BadRequest from status.Details(); demo exits 0 on SIGTERM")
elif [[ -n ${CI:-} ]]; then
  echo "the Go client test needs Debian's Go packages (${GO_PACKAGES[*]}) and apt-get as root" >&2
  exit 1
else
  note "skipped: apt-get as root is not available to install ${GO_PACKAGES[*]}"
  checked+=("Go client: SKIPPED (no root for apt-get; CI runs it)")
fi

step "java client (protoc Java and protoc-gen-grpc-java stubs, grpc-java over Netty)"
if install_java; then
  run_java
  checked+=("Java stubs generated by protoc (java_multiple_files) and protoc-gen-grpc-java compile under javac -Werror -Xlint:all")
  checked+=("Java: health SERVING; Get APPROVED for every product, REJECTED with DOC_TAMPERED and its evidence")
  checked+=("Java: Watch PENDING then APPROVED then the end (blocking iterator); Evaluate of the seed fixture")
  checked+=("Java: INVALID_ARGUMENT with ErrorInfo and a BadRequest from StatusProto.fromThrowable; demo exits 0 on SIGTERM")
  checked+=("Java, as ZOLOZ's SDK: simulator answers found by exact header name (getHeaderFields().get(\"Signature\")) and verified with SHA256withRSA / HmacSHA256, plain, RSA_AES and AK/SK; the authentication/test echo in resultMessage")
elif [[ -n ${CI:-} ]]; then
  echo "the Java client test needs Debian's packages (${JAVA_PACKAGES[*]}) and apt-get as root" >&2
  exit 1
else
  note "skipped: apt-get as root is not available to install ${JAVA_PACKAGES[*]}"
  checked+=("Java client: SKIPPED (no root for apt-get; CI runs it)")
fi

printf '\n=== polyglot: passed in %ss\n' "$((SECONDS - start))"
printf '  - %s\n' "${checked[@]}"
