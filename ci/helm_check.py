#!/usr/bin/env python3
"""Checks what the helm CLI cannot about the Helm chart helm/zoloz-verdict, with no cluster.

Run it from anywhere: `python3 ci/helm_check.py --helm PATH` (ci/deploy.sh fetches the helm CLI
and runs it, after `helm lint --strict`). It creates (once) a virtualenv with the pinned tools of
ci/helm-requirements.txt (kubernetes-validate, jsonschema, PyYAML), re-runs itself in it, then:

  1. chart metadata: apiVersion v2, appVersion equal to Cargo.toml's version;
  2. values.yaml: every setting has a comment; values.schema.json is a valid draft-07 schema and
     strict (additionalProperties false on every object it describes);
  3. renders the chart with `helm template` and several value sets (defaults, everything on, TLS
     variants, AK/SK, metrics off) and checks every manifest with kubernetes-validate --strict at
     the chart's lowest Kubernetes version and the newest one known (ServiceMonitor against the
     vendored ci/schemas/servicemonitor-monitoring-v1.json; the PrometheusRule's rules are
     promtool's, in ci/deploy.sh), then the chart's own promises: config.toml
     is valid TOML with the keys the service expects and only keys src/config.rs knows, every
     file it names is mounted from a Secret, ports and probes agree, the pod is non-root with a
     read-only root and no capabilities, terminationGracePeriodSeconds is above the drain, no
     rendered text holds key material, cross-object selectors match;
  4. refusals: `helm template` refuses (the schema or the templates) wrongly typed values,
     unknown keys, bad durations, a grace period not above the drain, and other inconsistent
     values, each with the expected message;
  5. a config change changes the pods' checksum annotation (pods roll), other changes do not.

Exit status 0 when every check passes, 1 otherwise; each check is printed. Idempotent: the
virtualenv is reused while the requirements file is unchanged (HELM_CHECK_VENV moves it).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
HELM = "helm"  # the helm CLI (--helm)
KUBE_VERSION: str | None = None  # the chart's lowest Kubernetes version, for --kube-version
CHART = ROOT / "helm" / "zoloz-verdict"
ALL_ON = ROOT / "ci" / "helm-values-all-on.yaml"
REQUIREMENTS = ROOT / "ci" / "helm-requirements.txt"
SERVICEMONITOR_SCHEMA = ROOT / "ci" / "schemas" / "servicemonitor-monitoring-v1.json"
CONFIG_RS = ROOT / "src" / "config.rs"
VENV = Path(os.environ.get("HELM_CHECK_VENV", ROOT / "target" / "helm-check" / "venv"))
STAMP = ".helm-check-requirements.sha256"


# ------------------------------------------------------------------------------------------------
# The virtualenv.


def bootstrap() -> None:
    """Runs this script inside the pinned virtualenv, creating it when missing or stale."""
    want = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    stamp = VENV / STAMP
    fresh = stamp.is_file() and stamp.read_text().strip() == want
    if fresh and Path(sys.prefix).resolve() == VENV.resolve():
        return
    python = VENV / "bin" / "python"
    if not fresh:
        print(f"=== virtualenv {VENV} (pinned tools of {REQUIREMENTS.relative_to(ROOT)})", flush=True)
        if VENV.exists():
            if not (VENV / "pyvenv.cfg").is_file():
                sys.exit(f"error: {VENV} exists and is not a virtualenv: move it or set HELM_CHECK_VENV")
            shutil.rmtree(VENV)
        VENV.parent.mkdir(parents=True, exist_ok=True)
        made = subprocess.run([sys.executable, "-m", "venv", str(VENV)], capture_output=True, text=True)
        pip = [str(python), "-m", "pip"]
        if made.returncode != 0:
            # Debian without python3-venv has no ensurepip: a pip-less venv filled by the
            # system pip still works.
            shutil.rmtree(VENV, ignore_errors=True)
            subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(VENV)], check=True)
            pip = [sys.executable, "-m", "pip", "--python", str(python)]
            if subprocess.run(pip + ["--version"], capture_output=True).returncode != 0:
                sys.exit(
                    "error: cannot create a virtualenv with pip: install python3-venv "
                    f"(apt-get install python3-venv) or pip\n{made.stderr}"
                )
        subprocess.run(
            pip + ["install", "--quiet", "--disable-pip-version-check", "--no-input",
                   "-r", str(REQUIREMENTS)],
            check=True,
        )
        stamp.write_text(want + "\n")
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# ------------------------------------------------------------------------------------------------
# Reporting.


class Report:
    """Counts checks, prints each one, remembers the failures."""

    def __init__(self) -> None:
        self.passed = 0
        self.failures: list[str] = []

    def section(self, title: str) -> None:
        print(f"\n=== {title}", flush=True)

    def check(self, condition: bool, what: str, detail: str = "") -> bool:
        if condition:
            self.passed += 1
            print(f"  ok    {what}")
        else:
            self.failures.append(f"{what}: {detail}" if detail else what)
            print(f"  FAIL  {what}" + (f"\n        {detail}" if detail else ""))
        return condition

    def note(self, text: str) -> None:
        print(f"  note  {text}")


# ------------------------------------------------------------------------------------------------
# What the service expects (src/config.rs), with a fallback when a struct moves.

DURATION = re.compile(r"^[0-9]+(ms|s|m|h)$")

# TOML table -> the serde struct in src/config.rs that reads it (deny_unknown_fields).
TABLE_STRUCTS = {
    "": "FileConfig",
    "server": "ServerFile",
    "server.tls": "TlsFile",
    "upstream": "UpstreamFile",
    "retry": "RetryFile",
    "cache": "CacheFile",
    "watch": "WatchFile",
    "telemetry": "TelemetryFile",
    "audit": "AuditFile",
    "tenants.*": "TenantFile",
    "policies.*": "PolicyTable",
}
# The same, as of the commit the chart was written against; used for a struct not found.
FALLBACK_FIELDS = {
    "": {"server", "upstream", "retry", "cache", "watch", "telemetry", "audit", "default_tenant",
         "tenants", "default_policy", "policies"},
    "server": {"listen", "metrics_listen", "shutdown_grace", "max_in_flight",
               "max_concurrent_streams", "max_message_bytes", "http2_keepalive_interval",
               "http2_keepalive_timeout", "tls"},
    "server.tls": {"cert_file", "key_file", "client_ca_file"},
    "upstream": {"connect_timeout", "attempt_timeout", "default_deadline", "freshness_window",
                 "max_response_bytes"},
    "retry": {"max_attempts", "base_delay", "max_delay", "budget_ratio", "budget_min_per_sec"},
    "cache": {"max_entries", "ttl"},
    "watch": {"max_wait", "initial_interval", "max_interval"},
    "telemetry": {"log_format", "log_level"},
    "audit": {"enabled", "file", "on_stall", "stall_timeout", "queue"},
    "tenants.*": {"client_id", "auth", "merchant_private_key_file", "zoloz_public_key_file",
                  "zoloz_public_key_versions", "access_key", "secret_key_file", "region",
                  "base_url", "encrypt", "face_capture_api", "default_policy",
                  "max_concurrent_upstream"},
    "policies.*": {"face_match_min_score", "face_quality_min_score", "effects"},
}
DURATION_KEYS = {
    "server": {"shutdown_grace", "http2_keepalive_interval", "http2_keepalive_timeout"},
    "upstream": {"connect_timeout", "attempt_timeout", "default_deadline", "freshness_window"},
    "retry": {"base_delay", "max_delay"},
    "cache": {"ttl"},
    "watch": {"max_wait", "initial_interval", "max_interval"},
    "audit": {"stall_timeout"},
}


def service_config_fields(report: Report) -> dict[str, set[str]]:
    """The keys each config table accepts, read from src/config.rs where its struct is found."""
    source = CONFIG_RS.read_text() if CONFIG_RS.is_file() else ""
    fields: dict[str, set[str]] = {}
    from_source = []
    for table, struct in TABLE_STRUCTS.items():
        match = re.search(r"\bstruct\s+%s\s*\{(.*?)\n\}" % struct, source, re.S)
        if match:
            fields[table] = set(re.findall(r"^\s*(?:pub\s+)?([a-z_][a-z0-9_]*)\s*:", match.group(1), re.M))
            from_source.append(struct)
        else:
            fields[table] = FALLBACK_FIELDS[table]
            report.note(f"src/config.rs has no struct {struct}: the keys of [{table}] are checked "
                        "against the chart's list")
    report.note(f"config keys read from src/config.rs: {', '.join(from_source)}")
    return fields


def duration_seconds(text: str) -> float:
    n, unit = re.match(r"^([0-9]+)(ms|s|m|h)$", text).groups()
    return int(n) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


# ------------------------------------------------------------------------------------------------
# Rendering.


class Rendered:
    """One rendering of the chart: the manifests, parsed, by kind."""

    def __init__(self, files: dict[str, str]):
        import yaml

        self.files = files
        self.docs: list[tuple[str, dict]] = []
        for name, text in sorted(files.items()):
            if name.endswith("NOTES.txt"):
                continue
            for doc in yaml.safe_load_all(text):
                if doc:
                    self.docs.append((name, doc))

    def kinds(self, kind: str) -> list[dict]:
        return [d for _, d in self.docs if d.get("kind") == kind]

    def one(self, kind: str, hook: bool | None = None) -> dict | None:
        found = [d for d in self.kinds(kind)
                 if hook is None or ("helm.sh/hook" in (d["metadata"].get("annotations") or {})) == hook]
        return found[0] if len(found) == 1 else None


def load_yaml(path: Path) -> dict:
    import yaml

    return yaml.safe_load(path.read_text()) or {}


class HelmError(Exception):
    """`helm template` refused to render; the message is its standard error."""


def helm_template(values: dict | None, release: str = "zoloz-verdict", namespace: str = "verdict",
                  kube_version: str | None = None) -> dict[str, str]:
    """The chart rendered by the helm CLI: template path -> its manifests' text."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        json.dump(values or {}, f)
        f.flush()
        command = [HELM, "template", release, str(CHART), "--namespace", namespace, "-f", f.name]
        if kube_version:
            command += ["--kube-version", kube_version]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise HelmError(result.stderr)
    files: dict[str, str] = {}
    current = None
    for line in result.stdout.splitlines(keepends=True):
        if line.startswith("# Source: "):
            current = line.removeprefix("# Source: ").strip()
            files[current] = files.get(current, "") + ("---\n" if current in files else "")
        elif current is not None and line.strip() != "---":
            files[current] += line
    return files


def render(values: dict | None, release: str = "zoloz-verdict", namespace: str = "verdict") -> Rendered:
    return Rendered(helm_template(values, release, namespace, KUBE_VERSION))


# ------------------------------------------------------------------------------------------------
# Checks of one rendering.

KEY_MATERIAL = [
    (re.compile(r"-----BEGIN [A-Z0-9 ]+-----"), "a PEM block"),
    (re.compile(r"PRIVATE KEY"), "the words PRIVATE KEY"),
    (re.compile(r"(?<![A-Za-z0-9+/_=-])[A-Za-z0-9+/_-]{120,}={0,2}"), "a long Base64 run"),
]


def key_material(text: str) -> str | None:
    for pattern, what in KEY_MATERIAL:
        match = pattern.search(text)
        if match:
            return f"{what} ({match.group(0)[:40]}…)"
    return None


def validate_manifests(report: Report, label: str, rendered: Rendered, versions: list[str]) -> None:
    import jsonschema
    import kubernetes_validate

    monitor_schema = json.loads(SERVICEMONITOR_SCHEMA.read_text())
    for template, doc in rendered.docs:
        what = f"{label}: {doc['kind']}/{doc['metadata']['name']} ({template.split('/templates/')[-1]})"
        if doc["kind"] == "PrometheusRule":
            report.note(f"{what}: its rules are checked and tested by promtool (ci/deploy.sh)")
            continue
        if doc["apiVersion"].startswith("monitoring.coreos.com/"):
            errors = [e.message for e in jsonschema.Draft202012Validator(monitor_schema).iter_errors(doc)]
            report.check(not errors, f"{what}: valid against the vendored ServiceMonitor schema "
                         "(kubernetes-validate knows no CRDs)", "; ".join(errors))
            continue
        for version in versions:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
                report.check(True, f"{what}: kubernetes-validate --strict, Kubernetes {version}")
            except kubernetes_validate.ValidationError as e:
                path = "/".join(str(p) for p in e.path)
                report.check(False, f"{what}: kubernetes-validate --strict, Kubernetes {version}",
                             f"at {path}: {e.message}")
            except kubernetes_validate.SchemaNotFoundError as e:
                report.check(False, f"{what}: kubernetes-validate --strict, Kubernetes {version}",
                             e.message)


def check_rendering(report: Report, label: str, rendered: Rendered, values: dict,
                    fields: dict[str, set[str]]) -> None:
    """The chart's promises, on one rendering; `values` are the merged values it came from."""
    # No key material anywhere, and no Secret objects: keys come from the user's Secrets.
    for name, text in rendered.files.items():
        if not text.strip():
            continue
        found = key_material(text)
        report.check(found is None, f"{label}: no key material in {name.split('/templates/')[-1]}", found or "")
    report.check(not rendered.kinds("Secret"), f"{label}: the chart renders no Secret")

    deployment = rendered.one("Deployment")
    configmaps = [c for c in rendered.kinds("ConfigMap") if "config.toml" in c.get("data", {})]
    configmap = configmaps[0] if len(configmaps) == 1 else None
    service = rendered.one("Service")
    if not report.check(bool(deployment and configmap and service),
                        f"{label}: one Deployment, one ConfigMap, one Service"):
        return
    pod = deployment["spec"]["template"]
    spec = pod["spec"]
    container = spec["containers"][0]
    pod_labels = pod["metadata"]["labels"]

    # config.toml: valid TOML, the keys the service reads, and only those.
    text = configmap["data"].get("config.toml", "")
    try:
        config = tomllib.loads(text)
        report.check(True, f"{label}: config.toml is valid TOML")
    except tomllib.TOMLDecodeError as e:
        report.check(False, f"{label}: config.toml is valid TOML", str(e))
        return
    unknown = []

    def known(table: str, data: dict, nested: set[str]) -> None:
        for key, value in data.items():
            if key not in fields[table]:
                unknown.append(f"{table or '<top>'}.{key}")
            if isinstance(value, dict) and key not in nested:
                unknown.append(f"{table or '<top>'}.{key} (a table where a value is expected)")

    known("", config, {"server", "upstream", "retry", "cache", "watch", "telemetry", "audit",
                       "tenants", "policies"})
    for table in ("server", "upstream", "retry", "cache", "watch", "telemetry", "audit"):
        known(table, config.get(table, {}), {"tls"} if table == "server" else set())
    known("server.tls", config.get("server", {}).get("tls", {}), set())
    for tenant in config.get("tenants", {}).values():
        known("tenants.*", tenant, {"zoloz_public_key_versions"})
    for policy in config.get("policies", {}).values():
        known("policies.*", policy, {"effects"})
    report.check(not unknown, f"{label}: config.toml has only keys src/config.rs accepts", ", ".join(unknown))

    server = config.get("server", {})
    for key in ("listen", "metrics_listen", "shutdown_grace"):
        report.check(key in server, f"{label}: config.toml sets server.{key}")
    bad = [f"{t}.{k} = {v!r}" for t, keys in DURATION_KEYS.items()
           for k, v in config.get(t, {}).items() if k in keys and not DURATION.match(str(v))]
    report.check(not bad, f"{label}: config.toml durations are 250ms/20s/5m/1h style", ", ".join(bad))
    tenants = config.get("tenants", {})
    report.check(bool(tenants), f"{label}: config.toml has at least one [tenants.<name>]")
    report.check(config.get("default_tenant") in tenants,
                 f"{label}: default_tenant names a configured tenant", repr(config.get("default_tenant")))
    policy_names = set(config.get("policies", {})) | {"default"}
    for name, tenant in tenants.items():
        auth = tenant.get("auth", "rsa")
        need = ["client_id"] + (["access_key", "secret_key_file"] if auth == "aksk"
                                else ["merchant_private_key_file", "zoloz_public_key_file"])
        missing = [k for k in need if k not in tenant]
        report.check(not missing, f"{label}: tenants.{name} has {', '.join(need)}", f"missing {missing}")
        report.check(("region" in tenant) != ("base_url" in tenant),
                     f"{label}: tenants.{name} has exactly one of region and base_url")
        if "default_policy" in tenant:
            report.check(tenant["default_policy"] in policy_names,
                         f"{label}: tenants.{name}.default_policy names a policy")
    if "default_policy" in config:
        report.check(config["default_policy"] in policy_names, f"{label}: default_policy names a policy")

    # Every file config.toml names is a mounted Secret entry (or the mounted config itself).
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    mounts = container.get("volumeMounts", [])

    def provided(path: str) -> str | None:
        """Why `path` is not provided read-only from a Secret, or None when it is."""
        p = PurePosixPath(path)
        for mount in mounts:
            if PurePosixPath(mount["mountPath"]) == p.parent and "subPath" not in mount:
                secret = volumes.get(mount["name"], {}).get("secret")
                if secret is None:
                    return f"{p.parent} is not a Secret volume"
                if not mount.get("readOnly"):
                    return f"{p.parent} is mounted writable"
                items = secret.get("items")
                if items is not None and p.name not in {i["path"] for i in items}:
                    return f"Secret {secret['secretName']} mounted at {p.parent} has no item {p.name}"
                return None
        return f"nothing is mounted at {p.parent}"

    files = []
    for name, tenant in tenants.items():
        for key in ("merchant_private_key_file", "zoloz_public_key_file", "secret_key_file"):
            if key in tenant:
                files.append((f"tenants.{name}.{key}", tenant[key]))
        for version, path in tenant.get("zoloz_public_key_versions", {}).items():
            files.append((f"tenants.{name}.zoloz_public_key_versions.{version}", path))
    for key, path in server.get("tls", {}).items():
        files.append((f"server.tls.{key}", path))
    for key, path in files:
        why = provided(path)
        report.check(why is None, f"{label}: {key} ({path}) is a read-only mounted Secret entry", why or "")
    if config.get("audit", {}).get("file"):
        audit_dir = PurePosixPath(config["audit"]["file"]).parent
        writable = [m for m in mounts if PurePosixPath(m["mountPath"]) == audit_dir and not m.get("readOnly")]
        report.check(bool(writable), f"{label}: audit.file's directory {audit_dir} is a writable mount")

    args = container.get("args", [])
    config_path = args[args.index("--config") + 1] if "--config" in args else None
    report.check(args[:1] == ["serve"] and config_path is not None,
                 f"{label}: the container runs `serve --config FILE`", str(args))
    config_mount = [m for m in mounts if m["mountPath"] == config_path]
    report.check(bool(config_mount) and volumes.get(config_mount[0]["name"], {}).get("configMap", {}).get("name")
                 == configmap["metadata"]["name"] and config_mount[0].get("subPath") == "config.toml",
                 f"{label}: --config {config_path} is the ConfigMap's config.toml")
    report.check(pod["metadata"].get("annotations", {}).get("checksum/config", "") != "",
                 f"{label}: the pod template carries checksum/config")

    # Ports: config listeners = container ports = Service targets.
    ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    listen_port = int(server.get("listen", ":0").rsplit(":", 1)[1])
    report.check(ports.get("grpc") == listen_port,
                 f"{label}: server.listen port {listen_port} is the container's grpc port")
    if server.get("metrics_listen", "off") != "off":
        metrics_port = int(server["metrics_listen"].rsplit(":", 1)[1])
        report.check(ports.get("metrics") == metrics_port,
                     f"{label}: server.metrics_listen port {metrics_port} is the container's metrics port")
    else:
        report.check("metrics" not in ports, f"{label}: no metrics port when metrics are off")
    service_ports = {p["name"]: p for p in service["spec"]["ports"]}
    report.check(service_ports.get("grpc", {}).get("appProtocol") == "grpc",
                 f"{label}: the Service's grpc port has appProtocol grpc")
    report.check(all(p["targetPort"] in ports for p in service_ports.values()),
                 f"{label}: the Service's target ports are container ports")
    report.check(service["spec"]["selector"].items() <= pod_labels.items(),
                 f"{label}: the Service selects the pods")

    # Probes: gRPC probes on the gRPC port without TLS; exec `zoloz-verdict health` with TLS.
    tls = "tls" in server
    for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(kind)
        if probe is None:
            report.note(f"{label}: no {kind} (turned off in values)")
            continue
        if tls:
            command = probe.get("exec", {}).get("command", [])
            ok = command[:2] == ["/usr/local/bin/zoloz-verdict", "health"] and "--addr" in command
            addr = command[command.index("--addr") + 1] if ok else ""
            host, _, port = addr.removeprefix("https://").rpartition(":")
            aliases = {h for a in spec.get("hostAliases", []) if a["ip"] == "127.0.0.1" for h in a["hostnames"]}
            report.check(ok and addr.startswith("https://") and port == str(listen_port) and host in aliases,
                         f"{label}: {kind} execs `zoloz-verdict health` over TLS at the pod itself", str(command))
            for flag in ("--ca-file", "--cert-file", "--key-file"):
                if flag in command:
                    path = command[command.index(flag) + 1]
                    why = provided(path)
                    report.check(why is None, f"{label}: {kind} {flag} {path} is mounted", why or "")
            report.check(("--cert-file" in command) == ("client_ca_file" in server.get("tls", {})),
                         f"{label}: {kind} presents a client certificate exactly when mTLS is on")
        else:
            report.check(probe.get("grpc", {}).get("port") == listen_port,
                         f"{label}: {kind} is a gRPC probe on the gRPC port", json.dumps(probe))

    # The drain: Kubernetes must not kill calls the server is still finishing.
    grace = duration_seconds(server.get("shutdown_grace", "20s"))
    sleep = container.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
    period = spec.get("terminationGracePeriodSeconds", 30)
    report.check(period > grace + sleep,
                 f"{label}: terminationGracePeriodSeconds {period} > shutdown_grace {grace:g}s + preStop {sleep}s")

    # Hardening.
    def hardened(pod_spec: dict, c: dict, who: str) -> None:
        psc, csc = pod_spec.get("securityContext", {}), c.get("securityContext", {})
        merged = {**psc, **csc}
        report.check(merged.get("runAsNonRoot") is True and merged.get("runAsUser") == 65532
                     and merged.get("runAsGroup") == 65532,
                     f"{label}: {who} runs as non-root 65532:65532")
        report.check(csc.get("readOnlyRootFilesystem") is True, f"{label}: {who} has a read-only root filesystem")
        report.check(csc.get("allowPrivilegeEscalation") is False, f"{label}: {who} cannot escalate privileges")
        report.check(csc.get("capabilities", {}).get("drop") == ["ALL"], f"{label}: {who} drops ALL capabilities")
        report.check(merged.get("seccompProfile", {}).get("type") == "RuntimeDefault",
                     f"{label}: {who} has the RuntimeDefault seccomp profile")
        report.check(pod_spec.get("automountServiceAccountToken") is False,
                     f"{label}: {who} mounts no service account token")
        report.check(pod_spec.get("enableServiceLinks") is False,
                     f"{label}: {who} gets no service-link variables (they would collide with ZOLOZ_VERDICT_*)")
        secret_mounts = [m for m in c.get("volumeMounts", [])
                         if "secret" in {v["name"]: v for v in pod_spec.get("volumes", [])}.get(m["name"], {})]
        report.check(all(m.get("readOnly") for m in secret_mounts), f"{label}: {who} mounts Secrets read-only")

    hardened(spec, container, "the Deployment's pod")
    tmp = [m for m in mounts if m["mountPath"] == "/tmp"]
    report.check(bool(tmp) and "emptyDir" in volumes.get(tmp[0]["name"], {}), f"{label}: /tmp is an emptyDir")
    report.check("resources" in container and "requests" in container["resources"],
                 f"{label}: the container has resource requests")

    # The helm test pod.
    if values["tests"]["enabled"]:
        test = rendered.one("Pod", hook=True)
        if report.check(test is not None, f"{label}: one helm test pod"):
            report.check(test["metadata"]["annotations"].get("helm.sh/hook") == "test",
                         f"{label}: the test pod is a helm test hook")
            command = test["spec"]["containers"][0].get("command", [])
            addr = command[command.index("--addr") + 1] if "--addr" in command else ""
            expected = f"{'https' if tls else 'http'}://{service['metadata']['name']}." \
                       f"{values['_namespace']}.svc:{service_ports['grpc']['port']}"
            report.check(command[:2] == ["/usr/local/bin/zoloz-verdict", "health"] and addr == expected,
                         f"{label}: the test pod runs `zoloz-verdict health --addr {expected}`", str(command))
            hardened(test["spec"], test["spec"]["containers"][0], "the test pod")

    # Optional objects: present exactly when enabled, pointing at the right things.
    hpa = rendered.one("HorizontalPodAutoscaler")
    report.check((hpa is not None) == values["autoscaling"]["enabled"], f"{label}: HPA iff autoscaling.enabled")
    if hpa:
        report.check(hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"],
                     f"{label}: the HPA scales the Deployment")
        report.check("replicas" not in deployment["spec"], f"{label}: the Deployment leaves replicas to the HPA")
    pdb = rendered.one("PodDisruptionBudget")
    report.check((pdb is not None) == values["podDisruptionBudget"]["enabled"],
                 f"{label}: PDB iff podDisruptionBudget.enabled")
    if pdb:
        report.check(pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items(),
                     f"{label}: the PDB selects the pods")
    netpol = rendered.one("NetworkPolicy")
    report.check((netpol is not None) == values["networkPolicy"]["enabled"],
                 f"{label}: NetworkPolicy iff networkPolicy.enabled")
    if netpol:
        report.check(netpol["spec"]["podSelector"]["matchLabels"].items() <= pod_labels.items(),
                     f"{label}: the NetworkPolicy selects the pods")
        ingress_ports = {p["port"] for rule in netpol["spec"]["ingress"] for p in rule.get("ports", [])}
        report.check(ingress_ports <= set(ports) and "grpc" in ingress_ports,
                     f"{label}: NetworkPolicy ingress is to the container's named ports", str(ingress_ports))
        egress = [(p.get("protocol", "TCP"), p["port"]) for rule in netpol["spec"]["egress"] for p in rule.get("ports", [])]
        zoloz_port = values["networkPolicy"]["zolozPort"]
        report.check({("UDP", 53), ("TCP", 53), ("TCP", zoloz_port)} <= set(egress),
                     f"{label}: NetworkPolicy egress allows DNS (53 UDP/TCP) and ZOLOZ ({zoloz_port})", str(egress))
        if values["tests"]["enabled"] and values["networkPolicy"]["ingress"]["grpcFrom"]:
            test_labels = rendered.one("Pod", hook=True)["metadata"]["labels"]
            peers = [p for rule in netpol["spec"]["ingress"] for p in rule.get("from", [])]
            report.check(any(p.get("podSelector", {}).get("matchLabels", {}).items() <= test_labels.items()
                             and "namespaceSelector" not in p and p.get("podSelector") for p in peers),
                         f"{label}: the NetworkPolicy lets the helm test pod in")
    monitor = rendered.one("ServiceMonitor")
    report.check((monitor is not None) == values["serviceMonitor"]["enabled"],
                 f"{label}: ServiceMonitor iff serviceMonitor.enabled")
    if monitor:
        report.check(monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
                     and all(e["port"] in service_ports for e in monitor["spec"]["endpoints"]),
                     f"{label}: the ServiceMonitor scrapes the Service's metrics port")
    rule = rendered.one("PrometheusRule")
    report.check((rule is not None) == values["prometheusRule"]["enabled"],
                 f"{label}: PrometheusRule iff prometheusRule.enabled")
    if rule:
        exprs = " ".join(r["expr"] for g in rule["spec"]["groups"] for r in g["rules"])
        wanted = values["prometheusRule"]["selector"] or \
            f'job="{service["metadata"]["name"]}", namespace="{values["_namespace"]}"'
        selections = re.findall(r"zoloz_verdict_\w+\{([^}]*)\}", exprs)
        report.check(bool(selections) and all(sel.startswith(wanted) for sel in selections),
                     f"{label}: every rule selects the release's series ({wanted})", str(selections))
    boards = [c for c in rendered.kinds("ConfigMap") if c["metadata"]["name"].endswith("-dashboard")]
    report.check(bool(boards) == values["grafanaDashboard"]["enabled"],
                 f"{label}: the dashboard ConfigMap iff grafanaDashboard.enabled")
    for board in boards:
        report.check(values["grafanaDashboard"]["labels"].items() <= board["metadata"]["labels"].items(),
                     f"{label}: the dashboard ConfigMap carries the sidecar's labels "
                     f"{values['grafanaDashboard']['labels']}")
        try:
            dashboard = json.loads(next(iter(board["data"].values())))
            exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
            report.check(bool(exprs) and all("zoloz_verdict_" in e for e in exprs),
                         f"{label}: the dashboard is JSON with {len(exprs)} panel queries on zoloz_verdict_ metrics")
        except (ValueError, KeyError, StopIteration) as e:
            report.check(False, f"{label}: the dashboard ConfigMap holds the dashboard JSON", str(e))
    if values["otel"]["enabled"]:
        env = {e["name"]: e.get("value") for e in container.get("env", [])}
        report.check(env.get("OTEL_EXPORTER_OTLP_ENDPOINT") == values["otel"]["endpoint"]
                     and "OTEL_SERVICE_NAME" in env, f"{label}: OTel settings reach the OTEL_* variables")


# ------------------------------------------------------------------------------------------------
# values.yaml documentation.


def undocumented_values(text: str) -> list[str]:
    """Setting lines of values.yaml with no comment, unless an ancestor's comment covers them.

    A key line must follow a comment block, or sit under a key whose comment block starts with
    `# --` (a documented block, e.g. resources). Grouping keys (image:, tls:, with nothing after
    the colon) need no comment of their own: their children are checked instead.
    """
    missing = []
    stack: list[tuple[int, bool]] = []  # (indent, covers its children)
    previous_comment = False
    block_start = ""
    block_scalar_indent: int | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if block_scalar_indent is not None:
            if stripped and indent <= block_scalar_indent:
                block_scalar_indent = None
            else:
                continue
        if not stripped:
            previous_comment = False
            continue
        if stripped.startswith("#"):
            if not previous_comment:
                block_start = stripped
            previous_comment = True
            continue
        match = re.match(r"^(\s*)(- )?(#[^\n]*)?([\w./\"-]+):(\s|$)", line)
        item = re.match(r"^(\s*)- (# --.*)$", line)
        if item:  # a list item carrying the comment of its first key on the same line
            previous_comment = True
            block_start = item.group(2)
            continue
        if not match:
            previous_comment = False
            continue
        key_indent = len(match.group(1)) + (2 if match.group(2) else 0)
        while stack and stack[-1][0] >= key_indent:
            stack.pop()
        covered = any(c for _, c in stack)
        group = re.search(r":\s*$", line) is not None
        if not (previous_comment or covered or group):
            missing.append(f"line {number}: {stripped}")
        documented_block = previous_comment and block_start.startswith("# --")
        stack.append((key_indent, covered or documented_block))
        if re.search(r":\s*[|>][-+]?\s*$", line):
            block_scalar_indent = key_indent
        previous_comment = False
    return missing


def non_strict_objects(schema: dict, path: str = "#") -> list[str]:
    """Schema objects that describe properties but accept unknown ones."""
    found = []
    if isinstance(schema, dict):
        if "properties" in schema and schema["properties"] and schema.get("additionalProperties") is not False:
            found.append(path)
        for key, value in schema.items():
            found += non_strict_objects(value, f"{path}/{key}")
    elif isinstance(schema, list):
        for index, value in enumerate(schema):
            found += non_strict_objects(value, f"{path}/{index}")
    return found


# ------------------------------------------------------------------------------------------------
# Main.


def deep_merge(base: dict, override: dict) -> dict:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def main() -> int:
    started = time.monotonic()
    global HELM, KUBE_VERSION
    parser = argparse.ArgumentParser(description="Checks the chart's renderings and refusals.")
    parser.add_argument("--helm", default=shutil.which("helm") or "helm", help="the helm CLI")
    HELM = parser.parse_args().helm
    import jsonschema
    import kubernetes_validate

    report = Report()
    version = subprocess.run([HELM, "version", "--short"], capture_output=True, text=True, check=True)
    print(f"helm {version.stdout.strip()} ({HELM}), kubernetes-validate {kubernetes_validate.__version__}, "
          f"Python {sys.version.split()[0]}")

    # 1. Metadata.
    report.section("chart metadata")
    chart_yaml = load_yaml(CHART / "Chart.yaml")
    cargo = tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]
    report.check(chart_yaml.get("apiVersion") == "v2", "Chart.yaml: apiVersion v2")
    report.check(str(chart_yaml.get("appVersion")) == cargo["version"],
                 f"Chart.yaml: appVersion {chart_yaml.get('appVersion')} is Cargo.toml's version {cargo['version']}")
    floor = re.match(r"^>=\s*v?(\d+\.\d+)", str(chart_yaml.get("kubeVersion", "")))
    report.check(floor is not None, f"Chart.yaml: kubeVersion {chart_yaml.get('kubeVersion')} has a floor")
    versions = [floor.group(1) + ".0" if floor else "1.30.0", kubernetes_validate.latest_version()]
    report.note(f"manifests are validated for Kubernetes {' and '.join(versions)}")
    KUBE_VERSION = versions[0]

    # 2. Values and schema.
    report.section("values.yaml and values.schema.json")
    missing = undocumented_values((CHART / "values.yaml").read_text())
    report.check(not missing, "values.yaml: every setting has a comment", "; ".join(missing[:10]))
    schema = json.loads((CHART / "values.schema.json").read_text())
    try:
        jsonschema.Draft7Validator.check_schema(schema)
        report.check(True, "values.schema.json: a valid draft-07 schema")
    except jsonschema.SchemaError as e:
        report.check(False, "values.schema.json: a valid draft-07 schema", e.message)
    loose = non_strict_objects(schema)
    report.check(not loose, "values.schema.json: additionalProperties false on every object with properties",
                 ", ".join(loose))
    defaults = load_yaml(CHART / "values.yaml")
    all_on = load_yaml(ALL_ON)

    # 3. Renderings (`helm template` also applies values.schema.json to each value set).
    scenarios = [
        ("defaults", {}, "zoloz-verdict", "verdict"),
        ("all-on", all_on, "zoloz-verdict", "verdict"),
        ("tls", {"tls": {"enabled": True, "existingSecret": "verdict-tls"}}, "kyc", "prod"),
        ("mtls, server pair as client, public roots",
         {"tls": {"enabled": True, "existingSecret": "verdict-tls", "caKey": "",
                  "clientCaSecret": "verdict-client-ca"}}, "kyc", "prod"),
        ("aksk tenant, simulator, metrics and probes off",
         {"metrics": {"enabled": False}, "tests": {"enabled": False},
          "probes": {"liveness": {"enabled": False}},
          "networkPolicy": {"enabled": True},
          "tenants": [{"name": "sim", "clientId": "2089012345678900", "auth": "aksk",
                       "baseUrl": "http://zoloz-simulator.verdict:8080", "accessKey": "AK1",
                       "existingSecret": "sim-keys", "secretKeys": {"secretKey": "sk"}}]},
         "verdict-sim", "verdict"),
    ]
    report.section("the keys the service accepts")
    fields = service_config_fields(report)
    for label, values, release, namespace in scenarios:
        report.section(f"render: {label} (release {release}, namespace {namespace})")
        try:
            rendered = render(values, release, namespace)
        except HelmError as e:
            report.check(False, f"{label}: renders", str(e))
            continue
        report.check(True, f"{label}: renders ({len(rendered.docs)} manifests)")
        merged = deep_merge(defaults, values)
        merged["_namespace"] = namespace
        validate_manifests(report, label, rendered, versions)
        check_rendering(report, label, rendered, merged, fields)

    # The key-material scan must not be vacuous.
    report.section("self-test of the key-material scan")
    planted = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "A" * 150 + "\n"
    report.check(key_material(planted) is not None, "a planted PEM private key is found")
    report.check(key_material("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 4) is not None,
                 "a planted bare Base64 DER key is found")

    # 4. Refusals.
    report.section("refusals (schema and template checks)")
    tenant = {"name": "acme", "clientId": "2089012345678900", "region": "sg", "existingSecret": "k"}
    refusals = [
        ("a wrongly typed value (replicaCount: \"two\")", {"replicaCount": "two"}, "/replicaCount"),
        ("an unknown top-level key", {"replicas": 3}, "additional properties 'replicas'"),
        ("an unknown nested key (config.server.lisen)", {"config": {"server": {"lisen": "x"}}},
         "additional properties 'lisen'"),
        ("a bad duration (shutdownGrace: 20sec)", {"config": {"server": {"shutdownGrace": "20sec"}}},
         "/config/server/shutdownGrace"),
        ("a duration without a unit (cache.ttl: \"60\")", {"config": {"cache": {"ttl": "60"}}}, "/config/cache/ttl"),
        ("a zero deadline (upstream.defaultDeadline: 0s)", {"config": {"upstream": {"defaultDeadline": "0s"}}},
         "/config/upstream/defaultDeadline"),
        ("a port out of range (service.grpcPort: 70000)", {"service": {"grpcPort": 70000}}, "/service/grpcPort"),
        ("an unknown region", {"tenants": [{**tenant, "region": "eu"}]}, "/tenants/0/region"),
        ("an unknown auth mode", {"tenants": [{**tenant, "auth": "hmac"}]}, "/tenants/0/auth"),
        ("an unknown log format", {"config": {"telemetry": {"logFormat": "xml"}}}, "/config/telemetry/logFormat"),
        ("an unknown effect", {"policies": {"p": {"effects": {"DEVICE_RISK_LOW": "block"}}}}, "/policies/p/effects"),
        ("a policy named default", {"policies": {"default": {}}}, "invalid propertyName 'default'"),
        ("a score above 100", {"policies": {"p": {"faceMatchMinScore": 101}}}, "/policies/p/faceMatchMinScore"),
        ("a score on a 0 to 1 scale (faceQualityMinScore: 0.8)",
         {"policies": {"p": {"faceQualityMinScore": 0.8}}}, "/policies/p/faceQualityMinScore"),
        ("a tenant name that is no DNS label", {"tenants": [{**tenant, "name": "Acme_1"}]}, "/tenants/0/name"),
        ("a tenant without existingSecret",
         {"tenants": [{k: v for k, v in tenant.items() if k != "existingSecret"}]}, "existingSecret"),
        ("an unknown key in a tenant", {"tenants": [{**tenant, "privateKey": "x"}]}, "additional properties 'privateKey'"),
        ("terminationGracePeriodSeconds not above shutdownGrace + preStop sleep",
         {"terminationGracePeriodSeconds": 25, "config": {"server": {"shutdownGrace": "20s"}}},
         "terminationGracePeriodSeconds (25) must be above"),
        ("terminationGracePeriodSeconds equal to a 1m shutdownGrace",
         {"terminationGracePeriodSeconds": 60, "lifecycle": {"preStopSleepSeconds": 0},
          "config": {"server": {"shutdownGrace": "1m"}}}, "must be above"),
        ("tls.enabled without tls.existingSecret", {"tls": {"enabled": True}}, "tls.existingSecret is required"),
        ("mTLS without TLS", {"tls": {"clientCaSecret": "ca"}}, "need tls.enabled"),
        ("region and baseUrl together",
         {"tenants": [{**tenant, "baseUrl": "https://sg-production-api.zoloz.com"}]}, "not both"),
        ("aksk without accessKey",
         {"tenants": [{**tenant, "auth": "aksk", "secretKeys": {"secretKey": "sk"}}]}, "accessKey is required"),
        ("encrypt with aksk",
         {"tenants": [{**tenant, "auth": "aksk", "accessKey": "a", "encrypt": True,
                       "secretKeys": {"secretKey": "sk"}}]}, "needs auth rsa"),
        ("two tenants with one name", {"tenants": [tenant, tenant]}, "used twice"),
        ("config.defaultTenant naming no tenant", {"config": {"defaultTenant": "nobody"}}, "names no tenant"),
        ("a default policy naming no policy", {"config": {"defaultPolicy": "strict"}}, "names no policy"),
        ("prometheusRule without metrics",
         {"prometheusRule": {"enabled": True}, "metrics": {"enabled": False}}, "needs metrics.enabled"),
        ("a failure ratio above 1 (prometheusRule.upstreamFailureRatio: 5)",
         {"prometheusRule": {"enabled": True, "upstreamFailureRatio": 5}}, "/prometheusRule/upstreamFailureRatio"),
        ("a rule selector that is no label matcher list",
         {"prometheusRule": {"enabled": True, "selector": "up == 0"}}, "/prometheusRule/selector"),
        ("an unknown key in grafanaDashboard", {"grafanaDashboard": {"enabled": True, "folder": "x"}},
         "additional properties 'folder'"),
        ("serviceMonitor without metrics",
         {"serviceMonitor": {"enabled": True}, "metrics": {"enabled": False}}, "needs metrics.enabled"),
    ]
    for what, values, expected in refusals:
        try:
            helm_template(values)
            report.check(False, f"refuses {what}", "it rendered")
        except HelmError as e:
            message = str(e)
            report.check(expected in message, f"refuses {what}",
                         f"refused, but the message lacks {expected!r}: {message.strip()[:300]}")

    # 5. Config changes roll the pods; other changes do not.
    report.section("config checksum")

    def checksum(values: dict) -> str:
        deployment = render(values).one("Deployment")
        return deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    base = checksum({})
    report.check(checksum({"config": {"cache": {"ttl": "2h"}}}) != base,
                 "a config change (cache.ttl) changes checksum/config: the pods roll")
    report.check(checksum({"replicaCount": 5}) == base, "a non-config change (replicaCount) keeps checksum/config")

    elapsed = time.monotonic() - started
    print(f"\n=== {report.passed} checks passed, {len(report.failures)} failed ({elapsed:.1f}s)")
    for failure in report.failures:
        print(f"  FAIL  {failure}")
    return 1 if report.failures else 0


if __name__ == "__main__":
    bootstrap()
    sys.exit(main())
