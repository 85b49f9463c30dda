#!/usr/bin/env python3
"""Offline checks of what a district deploys: the Helm chart for every district's values and
the cluster prerequisites under k8s/.

- `helm lint --strict` and `helm template` for every values/<district>.yaml;
- every rendered object validated strictly against the Kubernetes version we target
  (kubernetes-validate's bundled schemas), custom resources by their CRDs' own schemas where a
  package publishes them (scripts/validate-crds.mjs);
- the Secrets the chart may write are the platform's own keys (internal, personal-data, log
  signing) and the services' database passwords, each generated once and kept, or a named
  Secret in its place; a password Secret is basic-auth for its role, labelled `cnpg.io/reload`
  and made before the migrations Job; a database URL carries its password only by reference;
- each enabled service connects as its own role to its own database: the role is a login role
  among the district's Cluster's managed roles whose password Secret is the one the pods read,
  its Database object is owned by that role, the host is the Cluster's read-write Service or
  one of its read-write Poolers (whose name the server certificate carries), and the
  NetworkPolicies of the chart and of k8s/districts/<district> open that path, the Pooler's
  own to the instances included (shown to refuse another owner, another password Secret and a
  closed path);
- the values schema refuses a wrong type and an unknown key;
- every Deployment has probes, limits, non-root, a read-only root filesystem and a PDB;
- the Ingresses and Gateway routes send each path to the service topology.json assigns it and
  never route the event sink: the gRPC ones each enabled service's gRPC services, the HTTP
  ones (`ingress.http`, `gatewayRoute.http`) its `httpPaths` and gRPC services (gRPC-Web) on a
  host of their own, without nginx's GRPC backend protocol; an HTTPRoute's paths pass the CRD's
  own rules, which its published schema leaves out; the NetworkPolicies admit the ingress
  controller when only the HTTP routes are on; JICENG_CORS_ALLOWED_ORIGINS carries
  `web.corsAllowedOrigins`;
- the NetworkPolicies let exactly the expected services call each other (printed as a matrix),
  admit each outside caller's namespace to the services its values entry names only, and open
  name lookups on port 53 wherever the cluster answers them unless a district narrows them;
- secrets reach the pods only by reference: the chart renders no Secret and no secret value;
- every service of the workspace has its chart entry and every chart entry a service;
- the Prometheus rules (k8s/observability/prometheus-rules.yaml, a PrometheusRule): its `spec`
  passes `promtool check rules` and the unit tests in k8s/observability/rules-tests/; every
  alert has a severity (page or ticket), a summary, a description, a runbook_url to its page
  under docs/runbooks/ (which exists and the runbooks' index links) and a test in which it fires;
- the Grafana dashboards (k8s/observability/dashboards/): JSON, unique panel ids, every query
  on the `${datasource}` variable and valid PromQL, each shipped as a ConfigMap labelled for
  the Grafana sidecar;
- dashboards and rules name no rpc_*, db_client_* or jiceng_* metric or label the services do
  not export (the catalogue in docs/OBSERVABILITY.md);
- every district installs as written: each PriorityClass its pods name is defined under k8s/;
  at every autoscaler's maximum, with the rolling update's surge pod of each Deployment, the
  migrations Job, the district's PostgreSQL instances and its Pooler's pods, the pods' requests
  and limits fit the namespace's ResourceQuota; the services' connection pools at that many
  pods fit PostgreSQL's `max_connections` less a reserve or, through a Pooler, what its
  PgBouncer pods admit while one is away, the Pooler's own server connections then fitting
  `max_connections` (the same check is shown to refuse an autoscaler raised past either, and a
  Pooler's pool raised past `max_connections`); a pod's startup probe outlasts the migrations
  Job's deadline;
- the Dockerfile passes hadolint.

Needs HELM, KUBECTL and PROMTOOL (paths to the binaries; PROMTOOL defaults to `promtool` on the
PATH) and JICENG_CI_NODE_MODULES (where @kubernetes-models/gateway-api and
@kubernetes-models/prometheus-operator are installed) in the environment; .ci/run provides them.
"""

import base64
import copy
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import urllib.parse
from pathlib import Path

import kubernetes_validate
import yaml

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "jiceng"
KUBERNETES_VERSION = "1.33.0"
HELM = os.environ.get("HELM", "helm")
HADOLINT = os.environ.get("HADOLINT", "hadolint")
KUBECTL = os.environ.get("KUBECTL", "kubectl")
PROMTOOL = os.environ.get("PROMTOOL", "promtool")
OBSERVABILITY = ROOT / "k8s" / "observability"
RUNBOOKS = ROOT / "docs" / "runbooks"
RUNBOOK_URL = "https://github.com/jiceng/jiceng/blob/main/docs/runbooks/{}.md"

# Who may call whom, from the code: gRPC clients (org asks grid about cases; every other
# service asks org about scope) and event deliveries (publisher -> consumer).
EXPECTED_CALLS = {
    "org": {"grid", "member", "notify", "property"},
    "member": {"org", "notify"},
    "grid": {"org", "member", "notify"},
    "property": {"org", "notify"},
    "notify": {"org", "member"},
}

# Custom resources no reachable package publishes a schema for: checked for their required
# top-level fields only.
SCHEMALESS_KINDS = {
    ("postgresql.cnpg.io/v1", "Cluster"): ["instances", "storage"],
    ("postgresql.cnpg.io/v1", "Database"): ["cluster", "name", "owner"],
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): ["schedule", "cluster"],
    ("postgresql.cnpg.io/v1", "Pooler"): ["cluster", "pgbouncer"],
    ("barmancloud.cnpg.io/v1", "ObjectStore"): ["configuration"],
}

failures = []


def fail(message):
    failures.append(message)
    print(f"  FAIL {message}")


def run(*command, stdin=None):
    return subprocess.run(command, input=stdin, capture_output=True, text=True)


def objects_of(text):
    return [doc for doc in yaml.safe_load_all(text) if doc]


def validate(where, objects):
    """Built-in kinds by the Kubernetes schemas, custom ones by their CRDs'."""
    custom = []
    for obj in objects:
        name = f"{where}: {obj.get('kind')} {obj.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            custom.append(obj)
        except kubernetes_validate.ValidationError as error:
            fail(f"{name}: {error.message} at {'/'.join(map(str, error.path))}")
    if not custom:
        return len(objects)
    checked = run("node", str(ROOT / "scripts" / "validate-crds.mjs"), stdin=json.dumps(custom))
    unchecked = set()
    for line in checked.stdout.splitlines():
        if line.startswith("invalid "):
            fail(f"{where}: {line}")
        elif line.startswith("unchecked "):
            unchecked.add(tuple(line.split()[1:3]))
    if checked.returncode not in (0, 1):
        fail(f"{where}: validate-crds.mjs failed: {checked.stderr.strip()}")
    for obj in custom:
        kind = (obj["apiVersion"], obj["kind"])
        if kind not in unchecked:
            continue
        if kind not in SCHEMALESS_KINDS:
            fail(f"{where}: no schema at all for {kind[0]} {kind[1]}")
            continue
        missing = [f for f in SCHEMALESS_KINDS[kind] if f not in obj.get("spec", {})]
        if missing:
            fail(f"{where}: {kind[1]} {obj['metadata']['name']} lacks spec.{', spec.'.join(missing)}")
    return len(objects)


def render(district, *extra):
    return run(HELM, "template", district, str(CHART), "--namespace", f"jiceng-{district}",
               "--kube-version", KUBERNETES_VERSION,
               "-f", str(CHART / "values" / f"{district}.yaml"), *extra)


def check_deployments(district, objects):
    pdbs = {tuple(sorted(o["spec"]["selector"]["matchLabels"].items()))
            for o in objects if o["kind"] == "PodDisruptionBudget"}
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        name = f"{district}: Deployment {deployment['metadata']['name']}"
        pod = deployment["spec"]["template"]["spec"]
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            fail(f"{name}: pod may run as root")
        for container in pod["containers"]:
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                if "grpc" not in container.get(probe, {}):
                    fail(f"{name}: no gRPC {probe}")
            limits = container.get("resources", {}).get("limits", {})
            if not {"cpu", "memory"} <= limits.keys():
                fail(f"{name}: no cpu and memory limits")
            security = container.get("securityContext", {})
            if not security.get("readOnlyRootFilesystem"):
                fail(f"{name}: writable root filesystem")
            if security.get("allowPrivilegeEscalation") is not False:
                fail(f"{name}: may gain privileges")
            if security.get("capabilities", {}).get("drop") != ["ALL"]:
                fail(f"{name}: keeps capabilities")
        selector = tuple(sorted(deployment["spec"]["selector"]["matchLabels"].items()))
        if selector not in pdbs:
            fail(f"{name}: no PodDisruptionBudget")


# Environment variables that carry secrets: they must come from a Secret, never a value. The
# one exception is a database URL built by the chart, whose password is
# `$(JICENG_DATABASE_PASSWORD)`: Kubernetes expands it from that variable, itself taken from a
# Secret and defined before it.
SECRET_ENV = ("JICENG_DATABASE_URL", "JICENG_DATABASE_PASSWORD", "JICENG_INTERNAL_KEY",
              "JICENG_PII_KEY", "JICENG_LOG_SIGNING_KEY", "JICENG_JWT_SECRET")
PASSWORD_REFERENCE = "$(JICENG_DATABASE_PASSWORD)"


# The Secrets the chart may write: the keys the platform owns, generated once and kept (each
# suffix, and how its value must look).
GENERATED_KEYS = {
    "-internal-key": lambda value: len(value) >= 32,
    "-pii-key": lambda value: len(value) >= 32,
    "-log-signing-key": lambda value: re.fullmatch(rb"[0-9a-f]{64}", value) is not None,
}
# ... and the services' database passwords: `jiceng-db-<service>`, the basic-auth Secret that
# CloudNativePG's managed role `jiceng_<service>` reads.
DATABASE_SECRET = re.compile(r"^jiceng-db-([a-z]+)$")


def hook_weight(obj):
    return int(obj["metadata"].get("annotations", {}).get("helm.sh/hook-weight", 0))


def database_secret_problems(name, secret, service, job):
    """A service's role and password: generated once and kept, made before the migrations Job
    that logs in with it, and labelled so that CloudNativePG applies a change at once."""
    problems = []
    annotations = secret["metadata"].get("annotations", {})
    if annotations.get("helm.sh/resource-policy") != "keep":
        problems.append(f"{name}: the password would be lost on uninstall")
    hooks = set(annotations.get("helm.sh/hook", "").split(","))
    if not {"pre-install", "pre-upgrade"} <= hooks or (job and hook_weight(secret) >= hook_weight(job)):
        problems.append(f"{name}: not made before the migrations Job (hooks {sorted(hooks)}, "
                        f"weight {hook_weight(secret)})")
    if secret.get("type") != "kubernetes.io/basic-auth":
        problems.append(f"{name}: type {secret.get('type')}, CloudNativePG reads "
                        "kubernetes.io/basic-auth")
    if secret["metadata"].get("labels", {}).get("cnpg.io/reload") != "true":
        problems.append(f"{name}: no label cnpg.io/reload: a changed password would wait for "
                        "CloudNativePG")
    data = {k: base64.b64decode(v) for k, v in secret.get("data", {}).items()}
    if set(data) != {"username", "password"} or data["username"] != f"jiceng_{service}".encode():
        problems.append(f"{name}: not the username jiceng_{service} and a password: {sorted(data)}")
    elif not re.fullmatch(rb"[A-Za-z0-9]{32,}", data["password"]):
        problems.append(f"{name}: the password is not 32 or more letters and digits (a URL "
                        "takes those as they are)")
    return problems


def check_generated_key(name, secret, job=None):
    """A Secret the chart writes is one of the platform's own keys or a service's database
    password, generated and kept."""
    database = DATABASE_SECRET.match(secret["metadata"]["name"])
    if database:
        for problem in database_secret_problems(name, secret, database.group(1), job):
            fail(problem)
        return
    suffix = next((s for s in GENERATED_KEYS if secret["metadata"]["name"].endswith(s)), None)
    if suffix is None:
        fail(f"{name}: the chart writes a Secret; it only references existing ones")
        return
    if secret["metadata"].get("annotations", {}).get("helm.sh/resource-policy") != "keep":
        fail(f"{name}: the key would be lost on uninstall")
    values = list(secret.get("data", {}).values())
    if len(values) != 1 or not GENERATED_KEYS[suffix](base64.b64decode(values[0])):
        fail(f"{name}: not one value of the key's form")


def env_problems(container):
    """Secrets in a container's environment that are not references to a Secret."""
    problems, defined = [], {}
    for env in container.get("env", []):
        from_secret = "secretKeyRef" in env.get("valueFrom", {})
        if env["name"] == "JICENG_DATABASE_URL" and "value" in env:
            url = urllib.parse.urlsplit(env["value"])
            if url.password != PASSWORD_REFERENCE or not defined.get("JICENG_DATABASE_PASSWORD"):
                problems.append("JICENG_DATABASE_URL carries a password other than "
                                f"{PASSWORD_REFERENCE} taken from a Secret before it")
        elif env["name"] in SECRET_ENV and not from_secret:
            problems.append(f"{env['name']} is not taken from a Secret")
        defined[env["name"]] = from_secret
    return problems


def check_secrets(district, objects):
    jobs = [o for o in objects if o["kind"] == "Job"]
    for obj in objects:
        name = f"{district}: {obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] == "Secret":
            check_generated_key(name, obj, jobs[0] if jobs else None)
        if obj["kind"] == "ConfigMap" and any(k in SECRET_ENV for k in obj.get("data", {})):
            fail(f"{name}: a secret in a ConfigMap")
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for problem in env_problems(container):
                fail(f"{name}: {problem}")


def selects(selector, labels):
    """A label selector (matchLabels and matchExpressions) against a pod's labels."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        if not {"In": key in labels and labels[key] in values,
                "NotIn": labels.get(key) not in values,
                "Exists": key in labels,
                "DoesNotExist": key not in labels}[operator]:
            return False
    return True


def peer_is_pod(peer, labels):
    """A peer without a namespaceSelector means the policy's own namespace."""
    return "namespaceSelector" not in peer and "ipBlock" not in peer \
        and selects(peer.get("podSelector"), labels)


def allows_port(rule, port):
    ports = rule.get("ports")
    return not ports or any(p.get("port") in (port, "grpc") for p in ports)


def call_matrix(objects):
    """Who may call whom: the callee admits the caller and the caller may reach the callee."""
    pods = {}
    for deployment in (o for o in objects if o["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        port = deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"]
        pods[labels["app.kubernetes.io/component"]] = (labels, port)
    policies = [o["spec"] for o in objects if o["kind"] == "NetworkPolicy"]
    matrix = {}
    for caller, (caller_labels, _) in pods.items():
        matrix[caller] = set()
        for callee, (callee_labels, port) in pods.items():
            if caller == callee:
                continue
            admitted = any(
                selects(p["podSelector"], callee_labels) and allows_port(rule, port)
                and any(peer_is_pod(peer, caller_labels) for peer in rule.get("from", []))
                for p in policies for rule in p.get("ingress", []))
            reachable = any(
                selects(p["podSelector"], caller_labels) and allows_port(rule, port)
                and any(peer_is_pod(peer, callee_labels) for peer in rule.get("to", []))
                for p in policies for rule in p.get("egress", []))
            if admitted and reachable:
                matrix[caller].add(callee)
    return matrix


def print_matrix(matrix):
    """Who may call whom, as the rendered NetworkPolicies say."""
    names = sorted(matrix)
    print("    caller \\ callee " + " ".join(f"{n:>9}" for n in names))
    for caller in names:
        cells = ("yes" if callee in matrix[caller] else "-" for callee in names)
        print(f"    {caller:>16} " + " ".join(f"{c:>9}" for c in cells))


# Gateway API's HTTPPathMatch rules for PathPrefix values (CEL in the CRD, absent from the
# published JSON schema that validate-crds.mjs checks against).
GATEWAY_PATH = re.compile(r"^(?:[-A-Za-z0-9/._~!$&'()*+,;=:@]|%[0-9a-fA-F]{2})+$")
EVENT_SINK = "jiceng.events."


def expected_routes(topology, services):
    """Per kind of route, the (path, service) pairs it must carry for the enabled services:
    gRPC by gRPC service name; HTTP by the services' /v1/... collections and, for gRPC-Web,
    their gRPC services' paths."""
    grpc = {(f"/{g}", svc) for svc in services for g in topology[svc]["grpcServices"]}
    http = grpc | {(p, svc) for svc in services for p in topology[svc].get("httpPaths", [])}
    return {"grpc": grpc, "http": http}


def route_problems(where, objects, topology):
    """What the chart's Ingresses, GRPCRoutes and HTTPRoutes route where: (problems, summary)."""
    problems = []
    components = {o["metadata"]["name"]: o["metadata"]["labels"]["app.kubernetes.io/component"]
                  for o in objects if o["kind"] == "Service"}
    enabled = [o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
               for o in objects if o["kind"] == "Deployment"]
    expected = expected_routes(topology, enabled)
    owner = {path: svc for pairs in expected_routes(topology, list(topology)).values()
             for path, svc in pairs}
    # Per (traffic, object kind): the (path, service) pairs carried and how many objects; per
    # traffic (grpc, http): the hosts.
    carried, count, hosts = {}, {}, {"grpc": set(), "http": set()}
    for o in objects:
        name = f"{where}: {o['kind']} {o['metadata']['name']}"
        routed = set()
        if o["kind"] == "Ingress":
            protocol = o["metadata"].get("annotations", {}).get(
                "nginx.ingress.kubernetes.io/backend-protocol")
            kind = "grpc" if protocol == "GRPC" else "http"
            for rule in o["spec"]["rules"]:
                hosts[kind].add(rule.get("host"))
                for path in rule["http"]["paths"]:
                    backend = path["backend"]["service"]
                    if path.get("pathType") != "Prefix" or backend["port"].get("name") != "grpc":
                        problems.append(f"{name}: {path['path']} is not a Prefix to the grpc port")
                    routed.add((path["path"], components.get(backend["name"], backend["name"])))
        elif o["kind"] in ("GRPCRoute", "HTTPRoute"):
            kind = "grpc" if o["kind"] == "GRPCRoute" else "http"
            hostnames = o["spec"].get("hostnames")
            if kind == "http" and not hostnames:
                problems.append(f"{name}: no hostnames of its own")
            hosts[kind].update(hostnames or ["(every hostname)"])
            for rule in o["spec"]["rules"]:
                backends = {components.get(b["name"], b["name"]) for b in rule["backendRefs"]}
                for match in rule["matches"]:
                    if kind == "grpc":
                        path = f"/{match['method']['service']}"
                    else:
                        path = match.get("path", {}).get("value", "")
                        if match.get("path", {}).get("type") != "PathPrefix" \
                                or not GATEWAY_PATH.match(path) or "//" in path \
                                or "/./" in path or "/../" in path:
                            problems.append(f"{name}: {match.get('path')} is no PathPrefix "
                                            "the CRD admits")
                    routed |= {(path, b) for b in backends}
        else:
            continue
        for path, svc in sorted(routed):
            if EVENT_SINK in path:
                problems.append(f"{name}: routes the event sink ({path}) to {svc}")
            elif owner.get(path) != svc:
                problems.append(f"{name}: routes {path} to {svc}, topology.json assigns it to "
                                f"{owner.get(path, 'no service')}")
        carried.setdefault((kind, o["kind"]), set()).update(routed)
        count[(kind, o["kind"])] = count.get((kind, o["kind"]), 0) + 1
    for (kind, which), pairs in sorted(carried.items()):
        if pairs != expected[kind]:
            problems.append(f"{where}: the {kind} {which}s lack {sorted(expected[kind] - pairs)} "
                            f"and carry {sorted(pairs - expected[kind])} over")
    shared = hosts["grpc"] & hosts["http"]
    if shared or ("(every hostname)" in hosts["grpc"] and ("http", "HTTPRoute") in carried):
        problems.append(f"{where}: gRPC and HTTP routes share the host(s) "
                        f"{sorted(shared) or ['(every hostname)']}")
    summary = ", ".join(f"{'gRPC' if kind == 'grpc' else 'HTTP'}: {count[(kind, which)]} "
                        f"{which}{'s' if count[(kind, which)] > 1 else ''} ({len(pairs)} paths)"
                        for (kind, which), pairs in sorted(carried.items()))
    return problems, summary


def check_routes(where, objects, topology):
    problems, described = route_problems(where, objects, topology)
    for problem in problems:
        fail(problem)
    if not problems and not described:
        print(f"  {where}: no Ingress or Gateway route")
    elif not problems:
        print(f"  {where}: {described}; every path to the service topology.json assigns it, "
              "no event sink")


def check_http_exposure(district, topology):
    """The HTTP/JSON and gRPC-Web routes, whichever way a district turns them on, and what is
    refused: an HTTPRoute without hostnames of its own, a route to the wrong service or to the
    event sink."""
    gateway = ["--set", "gatewayRoute.parentRefs[0].name=district-gateway",
               "--set", "gatewayRoute.parentRefs[0].namespace=gateway-system"]
    everything = ["--set", "ingress.enabled=true", "--set", "ingress.http.enabled=true",
                  "--set", "gatewayRoute.enabled=true", *gateway,
                  "--set", "gatewayRoute.hostnames={grpc.jiceng.example}",
                  "--set", "gatewayRoute.http.enabled=true",
                  "--set", "gatewayRoute.http.hostnames={api.jiceng.example}",
                  "--set", "web.corsAllowedOrigins={https://portal.example.gov.cn,http://localhost:5173}"]
    for label, settings in (("every route on", everything),
                            ("every route on, property off",
                             everything + ["--set", "services.property.enabled=false"])):
        rendered = render(district, *settings)
        if rendered.returncode != 0:
            fail(f"{label}: helm template: {rendered.stderr.strip()}")
            continue
        objects = objects_of(rendered.stdout)
        validate(label, objects)
        check_routes(label, objects, topology)
        origins = {env.get("value") for o in objects if o["kind"] == "Deployment"
                   for c in o["spec"]["template"]["spec"]["containers"] for env in c.get("env", [])
                   if env["name"] == "JICENG_CORS_ALLOWED_ORIGINS"}
        if origins != {"https://portal.example.gov.cn,http://localhost:5173"}:
            fail(f"{label}: JICENG_CORS_ALLOWED_ORIGINS is {origins}")
        if label == "every route on":
            # The check refuses what it is for: a path sent to another service, the event sink
            # routed, an HTTPRoute on the GRPCRoutes' hostname.
            def moved(o):
                if o["kind"] == "HTTPRoute" and o["metadata"]["name"].endswith("-grid-http"):
                    o["spec"]["rules"][0]["matches"].append(
                        {"path": {"type": "PathPrefix", "value": "/v1/units"}})

            def sink(o):
                if o["kind"] == "Ingress" and o["metadata"]["name"].endswith("-http"):
                    paths = o["spec"]["rules"][0]["http"]["paths"]
                    paths.append(copy.deepcopy(paths[-1]))
                    paths[-1]["path"] = "/jiceng.events.v1.EventSinkService"

            def shared(o):
                if o["kind"] == "HTTPRoute":
                    o["spec"]["hostnames"] = ["grpc.jiceng.example"]

            for spoiled_label, spoil in (("a unit path routed to grid", moved),
                                         ("the event sink routed", sink),
                                         ("an HTTPRoute on the GRPCRoutes' hostname", shared)):
                spoiled = copy.deepcopy(objects)
                for o in spoiled:
                    spoil(o)
                if not route_problems(label, spoiled, topology)[0]:
                    fail(f"the route check passed {spoiled_label}")
    # Only the HTTP routes on: the ingress controller still reaches every service.
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    district_values = yaml.safe_load((CHART / "values" / f"{district}.yaml").read_text())
    peer = {**values["networkPolicy"]["ingressController"],
            **district_values.get("networkPolicy", {}).get("ingressController", {})}
    controller = peer["namespaceSelector"]["kubernetes.io/metadata.name"]
    for label, settings in (("only ingress.http", ["--set", "ingress.enabled=false",
                                                   "--set", "ingress.http.enabled=true",
                                                   "--set", "gatewayRoute.enabled=false"]),
                            ("only gatewayRoute.http", ["--set", "ingress.enabled=false",
                                                        "--set", "gatewayRoute.enabled=false",
                                                        *gateway,
                                                        "--set", "gatewayRoute.http.enabled=true",
                                                        "--set", "gatewayRoute.http.hostnames={api.jiceng.example}"])):
        rendered = render(district, *settings)
        if rendered.returncode != 0:
            fail(f"{label}: helm template: {rendered.stderr.strip()}")
            continue
        objects = objects_of(rendered.stdout)
        services = {o["metadata"]["labels"]["app.kubernetes.io/component"]
                    for o in objects if o["kind"] == "Deployment"}
        admitted = admitted_namespaces(objects).get(controller, set())
        if admitted != services:
            fail(f"{label}: the ingress controller is admitted to {sorted(admitted)}, not to "
                 f"{sorted(services)}")
        else:
            print(f"  {label}: the NetworkPolicies admit the ingress controller to every service")
    for label, settings, message in (
            ("an HTTPRoute without hostnames",
             [*gateway, "--set", "gatewayRoute.http.enabled=true"], "gatewayRoute.http.hostnames"),
            ("an HTTPRoute on the GRPCRoutes' hostname",
             ["--set", "gatewayRoute.enabled=true", *gateway,
              "--set", "gatewayRoute.hostnames={jiceng.example}", "--set", "gatewayRoute.http.enabled=true",
              "--set", "gatewayRoute.http.hostnames={jiceng.example}"], "also a GRPCRoute hostname"),
            ("an HTTPRoute without parentRefs",
             ["--set", "gatewayRoute.http.enabled=true",
              "--set", "gatewayRoute.http.hostnames={api.jiceng.example}"],
             "values don't meet the specifications"),
            ("a CORS origin with a path",
             ["--set", "web.corsAllowedOrigins={https://portal.example.gov.cn/app}"],
             "values don't meet the specifications")):
        refused = render(district, *settings)
        if refused.returncode == 0 or message not in refused.stderr:
            fail(f"the chart accepted {label}: {refused.stderr.strip()}")
        else:
            print(f"  refused: {label}")


def check_chart():
    districts = sorted(p.stem for p in (CHART / "values").glob("*.yaml"))
    print(f"== chart: {len(districts)} districts ({', '.join(districts)})")
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    workspace = sorted(p.name for p in (ROOT / "services").iterdir()
                       if (p / "Cargo.toml").exists() and p.name != "jiceng")
    topology = json.loads((CHART / "topology.json").read_text())
    for what, names in (("values.yaml services", values["services"]), ("topology.json", topology)):
        if sorted(names) != workspace:
            fail(f"{what} lists {sorted(names)}, the workspace's services are {workspace}")
    print(f"  services: {', '.join(workspace)} (workspace, values.yaml and topology.json agree)")
    matrices = {}
    for district in districts:
        lint = run(HELM, "lint", "--strict", "--kube-version", KUBERNETES_VERSION, str(CHART),
                   "-f", str(CHART / "values" / f"{district}.yaml"))
        if lint.returncode != 0:
            fail(f"{district}: helm lint --strict:\n{lint.stdout}{lint.stderr}")
        rendered = render(district)
        if rendered.returncode != 0:
            fail(f"{district}: helm template: {rendered.stderr.strip()}")
            continue
        objects = objects_of(rendered.stdout)
        count = validate(district, objects)
        check_deployments(district, objects)
        check_secrets(district, objects)
        prerequisites = kustomized(ROOT / "k8s" / "districts" / district)
        if prerequisites:
            check_capacity(district, objects, prerequisites)
            check_database(district, objects, prerequisites)
        check_startup_budget(district, objects)
        check_egress_and_callers(district, objects)
        check_routes(district, objects, topology)
        matrix = call_matrix(objects)
        if matrix != EXPECTED_CALLS:
            fail(f"{district}: NetworkPolicies allow {matrix}, expected {EXPECTED_CALLS}")
        print(f"  {district}: {count} objects valid for Kubernetes {KUBERNETES_VERSION}")
        matrices[district] = matrix
    print("  who may call whom, computed from each district's rendered NetworkPolicies:")
    for matrix in {json.dumps(m, default=sorted, sort_keys=True) for m in matrices.values()}:
        print_matrix({caller: set(callees) for caller, callees in json.loads(matrix).items()})
    check_http_exposure(districts[0], topology)
    # A database outside the cluster (a managed service) is admitted by address.
    managed = render(districts[0], "--set", "networkPolicy.database.cidrs={10.40.16.0/24}")
    if managed.returncode != 0:
        fail(f"a managed database by address: helm template: {managed.stderr.strip()}")
    else:
        objects = objects_of(managed.stdout)
        validate("managed database", objects)
        blocks = [peer["ipBlock"]["cidr"] for o in objects if o["kind"] == "NetworkPolicy"
                  for rule in o["spec"].get("egress", []) for peer in rule.get("to", [])
                  if "ipBlock" in peer]
        if not blocks or set(blocks) != {"10.40.16.0/24"}:
            fail(f"a managed database by address: egress ipBlocks {blocks}")
        else:
            print(f"  a managed database by address: {len(blocks)} policies reach 10.40.16.0/24")
    # Webhooks: the notify pods alone get egress to the listed destinations' addresses, and
    # the list reaches the notify service.
    hooks = render(districts[0], "--set", "webhooks.allow={*.sh.gov.cn,10.50.0.0/16}",
                   "--set", "webhooks.egress.cidrs={10.50.0.0/16}", "--set", "webhooks.caSecret=gov-ca")
    if hooks.returncode != 0:
        fail(f"webhook destinations: helm template: {hooks.stderr.strip()}")
    else:
        objects = objects_of(hooks.stdout)
        validate("webhook destinations", objects)
        reaching = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "NetworkPolicy"
                          for rule in o["spec"].get("egress", []) for peer in rule.get("to", [])
                          if peer.get("ipBlock", {}).get("cidr") == "10.50.0.0/16")
        allow = [env.get("value") for o in objects if o["kind"] == "Deployment"
                 for c in o["spec"]["template"]["spec"]["containers"] for env in c.get("env", [])
                 if env["name"] == "JICENG_WEBHOOK_ALLOW"]
        if len(reaching) != 1 or not reaching[0].endswith("notify") or allow != ["*.sh.gov.cn,10.50.0.0/16"]:
            fail(f"webhook destinations: egress from {reaching}, allow lists {allow}")
        else:
            print(f"  webhook destinations: only {reaching[0]} reaches 10.50.0.0/16; it allows {allow[0]}")
    # A district that names its resolver narrows name lookups to it.
    narrowed = render(districts[0], "--set", "networkPolicy.dns.cidrs={169.254.20.10/32}")
    if narrowed.returncode != 0:
        fail(f"DNS narrowed: helm template: {narrowed.stderr.strip()}")
    else:
        objects = objects_of(narrowed.stdout)
        validate("DNS narrowed", objects)
        lookups = [rule for o in objects if o["kind"] == "NetworkPolicy"
                   for rule in o["spec"].get("egress", [])
                   if any(p.get("port") == 53 for p in rule.get("ports", []))]
        if not lookups or any(rule.get("to") != [{"ipBlock": {"cidr": "169.254.20.10/32"}}]
                              for rule in lookups):
            fail(f"DNS narrowed: lookups go to {lookups[:1]}")
        else:
            print(f"  DNS narrowed: {len(lookups)} policies look names up at 169.254.20.10 only")
    # The platform's own keys: each generated into a kept Secret by default, or an existing
    # Secret named in values; every pod that needs one reads it from there.
    for values_key, env_name, suffix in (("internalKey", "JICENG_INTERNAL_KEY", "-internal-key"),
                                         ("pii", "JICENG_PII_KEY", "-pii-key"),
                                         ("logSigning", "JICENG_LOG_SIGNING_KEY", "-log-signing-key")):
        for name in ("", f"district-{values_key.lower()}-from-vault"):
            keyed = render(districts[0], "--set", f"secrets.{values_key}.name={name}")
            if keyed.returncode != 0:
                fail(f"{values_key} {name or '(generated)'}: helm template: {keyed.stderr.strip()}")
                continue
            objects = objects_of(keyed.stdout)
            generated = [o["metadata"]["name"] for o in objects if o["kind"] == "Secret"
                         and o["metadata"]["name"].endswith(suffix)]
            refs = {env["valueFrom"]["secretKeyRef"]["name"] for o in objects
                    if o["kind"] == "Deployment"
                    for c in o["spec"]["template"]["spec"]["containers"] for env in c.get("env", [])
                    if env["name"] == env_name}
            wanted = {name} if name else set(generated)
            if len(generated) != (0 if name else 1) or refs != wanted:
                fail(f"{values_key} {name or '(generated)'}: Secrets {generated}, pods read {refs}")
            else:
                print(f"  {values_key}: pods read Secret {next(iter(refs))}"
                      f"{' (generated, kept)' if not name else ' (named in values)'}")
    # The services' database passwords: generated into kept Secrets jiceng-db-<service> and put
    # into each service's URL by reference; none where the district names URLs of its own (a
    # database outside its cluster) or makes the Secrets itself (the chart rendered without the
    # cluster).
    services = sorted(values["services"])
    for label, settings, generated_wanted, urls_from in (
            ("generated", [], services, None),
            ("URLs of the district's own", ["secrets.database.name=jiceng-database"], [],
             "jiceng-database"),
            ("made by the district", ["database.generatePasswords=false"], [], None)):
        keyed = render(districts[0], *[a for setting in settings for a in ("--set", setting)])
        if keyed.returncode != 0:
            fail(f"database passwords {label}: helm template: {keyed.stderr.strip()}")
            continue
        objects = objects_of(keyed.stdout)
        generated = sorted(DATABASE_SECRET.match(o["metadata"]["name"]).group(1) for o in objects
                           if o["kind"] == "Secret" and DATABASE_SECRET.match(o["metadata"]["name"]))
        reads = {(c["service"], c["secret"] if c["url"] else None) for c in database_clients(objects)}
        from_secret = {env["valueFrom"]["secretKeyRef"]["name"] for o in objects
                       if o["kind"] in ("Deployment", "Job")
                       for c in o["spec"]["template"]["spec"]["containers"]
                       + o["spec"]["template"]["spec"].get("initContainers", [])
                       for env in c.get("env", []) if env["name"] == "JICENG_DATABASE_URL"
                       and "valueFrom" in env}
        wanted = {(svc, None if urls_from else f"jiceng-db-{svc}") for svc in services}
        if generated != generated_wanted or reads != wanted or from_secret != (
                {urls_from} if urls_from else set()):
            fail(f"database passwords {label}: Secrets made for {generated}, pods read "
                 f"{sorted(reads, key=str)}, URLs from {sorted(from_secret)}")
        else:
            print(f"  database passwords {label}: "
                  + (f"URLs from Secret {urls_from}, no password generated" if urls_from else
                     f"pods read jiceng-db-<service>, "
                     + (f"{len(generated)} generated and kept" if generated else "none generated")))
        # A password made after the Job that logs in with it, or one CloudNativePG would apply
        # only at its next resync, is refused.
        job = next((o for o in objects if o["kind"] == "Job"), None)
        for secret in (o for o in objects if o["kind"] == "Secret"
                       and DATABASE_SECRET.match(o["metadata"]["name"])):
            late = copy.deepcopy(secret)
            late["metadata"]["annotations"]["helm.sh/hook-weight"] = "0"
            del late["metadata"]["labels"]["cnpg.io/reload"]
            service = DATABASE_SECRET.match(secret["metadata"]["name"]).group(1)
            refused = database_secret_problems("", late, service, job)
            if len(refused) != 2:
                fail(f"database passwords: a late, unlabelled Secret gave {refused}")
            break
    leaked = env_problems({"env": [
        {"name": "JICENG_DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "s", "key": "p"}}},
        {"name": "JICENG_DATABASE_URL", "value": "postgres://jiceng_org:hunter2@jiceng-pg-rw/jiceng_org"}]})
    if not leaked:
        fail("a database URL with a password written into it passed the secrets check")
    for label, setting in (("a wrong type", "services.grid.replicas=three"),
                           ("an unknown key", "services.grid.replica=3"),
                           ("an unknown service", "services.billing.replicas=1"),
                           ("a database host that is no name", "database.host=jiceng pg")):
        refused = render(districts[0], "--set", setting)
        if refused.returncode == 0 or "values don't meet the specifications" not in refused.stderr:
            fail(f"the values schema accepted {label} ({setting})")
        else:
            print(f"  schema refuses {label}: {setting}")


# Connections PostgreSQL keeps for itself and its operators beside the services' pools:
# superuser_reserved_connections (3), CloudNativePG's instance manager and metrics exporter, a
# few psql sessions of an operator at 3 a.m. The migrations Job's pool (2) counts as a pod's.
CONNECTION_RESERVE = 20
# A service's pool when the values set none (what `jiceng serve` opens on PostgreSQL).
DEFAULT_POOL_SIZE = 16
QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
UNITS = {None: 1, "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12,
         "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def quantity(text):
    match = QUANTITY.match(str(text))
    if not match:
        raise ValueError(f"not a Kubernetes quantity: {text}")
    return float(match.group(1)) * UNITS[match.group(2)]


def kustomized(path):
    built = run(KUBECTL, "kustomize", str(path))
    if built.returncode != 0:
        fail(f"{path.relative_to(ROOT)}: kubectl kustomize: {built.stderr.strip()}")
        return []
    return objects_of(built.stdout)


def pods_at_most(objects):
    """Each workload's pods at the most, with their containers' resources and, for the
    services, the connection pool each holds: every autoscaler at its maximum plus the rolling
    update's surge pod, and the migrations Job's one pod."""
    autoscalers = {o["spec"]["scaleTargetRef"]["name"]: o["spec"]["maxReplicas"]
                   for o in objects if o["kind"] == "HorizontalPodAutoscaler"}
    pods = []
    for o in objects:
        if o["kind"] == "Deployment":
            name = o["metadata"]["name"]
            replicas = autoscalers.get(name, o["spec"].get("replicas", 1))
            surge = o["spec"].get("strategy", {}).get("rollingUpdate", {}).get("maxSurge", 1)
            pod = o["spec"]["template"]["spec"]
            env = {e["name"]: e.get("value") for c in pod["containers"] for e in c.get("env", [])}
            pool = int(env.get("JICENG_DATABASE_POOL_SIZE") or DEFAULT_POOL_SIZE)
            pods.append((name, replicas + int(surge), pod, pool))
        elif o["kind"] == "Job":
            pods.append((o["metadata"]["name"], 1, o["spec"]["template"]["spec"], 2))
    return pods


def database_url(container):
    """The URL a container connects to its database with, split, or None when it comes from a
    Secret of the district's (a database outside its CloudNativePG cluster)."""
    for env in container.get("env", []):
        if env["name"] == "JICENG_DATABASE_URL" and "value" in env:
            return urllib.parse.urlsplit(env["value"])
    return None


def pod_database(pod):
    """Where a pod's containers connect: (host, {(database, role), ...}); host None when the
    URLs are the district's own."""
    urls = [u for c in pod.get("containers", []) + pod.get("initContainers", [])
            for u in [database_url(c)] if u]
    hosts = {u.hostname for u in urls}
    return (hosts.pop() if len(hosts) == 1 else None,
            {(u.path.lstrip("/"), u.username) for u in urls})


def rollout(spec, replicas):
    """A Deployment strategy's surge pods and the pods it may take away, for `replicas`."""
    rolling = (spec or {}).get("rollingUpdate", {})
    def count(value, default, rounding):
        value = rolling.get(value, default)
        if isinstance(value, str) and value.endswith("%"):
            return rounding(replicas * int(value[:-1]) / 100)
        return int(value)
    return count("maxSurge", "25%", math.ceil), count("maxUnavailable", "25%", math.floor)


def pooler_settings(pooler):
    """A Pooler's pods at the most, what each holds toward PostgreSQL per (database, role) pair,
    and the clients the pods left during a rollout or a disruption admit."""
    spec = pooler["spec"]
    instances = int(spec.get("instances", 1))
    surge, unavailable = rollout(spec.get("deploymentStrategy"), instances)
    parameters = spec.get("pgbouncer", {}).get("parameters", {})
    per_pair = int(parameters.get("default_pool_size", 20)) + int(
        parameters.get("reserve_pool_size", 0))
    survivors = max(instances - max(unavailable, 1), 1)
    return instances + surge, per_pair, survivors * int(parameters.get("max_client_conn", 100))


def capacity_problems(district, rendered, prerequisites):
    """What would not fit in the district's namespace at the autoscalers' maxima, and a line
    saying what does (None when the district's prerequisites cannot be read).

    PostgreSQL's connections: a pod that connects directly holds its whole pool. Pods that
    connect through a Pooler hold their pools on PgBouncer instead, and PostgreSQL sees at most
    each PgBouncer pod's pool per (database, role) pair those pods use, plus one more pair, the
    pool CloudNativePG's `auth_query` runs in (role cnpg_pooler_pgbouncer, database postgres).
    The pods' pools must then fit what the PgBouncer pods left admit while one is replaced or
    gone (the Pooler's rollout adds none, takes one away)."""
    problems = []
    quotas = [o for o in prerequisites if o["kind"] == "ResourceQuota"]
    clusters = [o for o in prerequisites if o["kind"] == "Cluster"]
    if len(quotas) != 1 or len(clusters) != 1:
        return [f"{district}: expected one ResourceQuota and one PostgreSQL Cluster in "
                f"k8s/districts/{district}, found {len(quotas)} and {len(clusters)}"], None
    hard = quotas[0]["spec"]["hard"]
    postgres = clusters[0]["spec"]
    poolers = {o["metadata"]["name"]: o for o in prerequisites if o["kind"] == "Pooler"}
    totals = {key: 0.0 for key in ("requests.cpu", "requests.memory", "limits.cpu",
                                   "limits.memory", "pods")}

    def add(count, pod):
        totals["pods"] += count
        # An init container runs before the others: the pod holds the larger of the two.
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                running = sum(quantity(c.get("resources", {}).get(kind, {}).get(resource, 0))
                              for c in pod["containers"])
                starting = max([quantity(c.get("resources", {}).get(kind, {}).get(resource, 0))
                                for c in pod.get("initContainers", [])] or [0])
                totals[f"{kind}.{resource}"] += count * max(running, starting)

    direct = 0
    through = {name: {"clients": 0, "pairs": set()} for name in poolers}
    for _, count, pod, pool in pods_at_most(rendered):
        add(count, pod)
        host, pairs = pod_database(pod)
        if host in poolers:
            through[host]["clients"] += count * pool
            through[host]["pairs"] |= pairs
        else:
            direct += count * pool
    instances = postgres.get("instances", 1)
    add(instances, {"containers": [{"resources": postgres.get("resources", {})}]})
    # Every Pooler's PgBouncer pods, used or idle. CloudNativePG gives their init container
    # (which copies its manager in) the pod-level resources of the Pooler's template, none here,
    # so the namespace's LimitRange gives it its defaults.
    defaults = next((limit for o in prerequisites if o["kind"] == "LimitRange"
                     for limit in o["spec"]["limits"] if limit.get("type") == "Container"), {})
    for name, pooler in poolers.items():
        template = pooler["spec"].get("template", {}).get("spec", {})
        pgbouncer = next((c for c in template.get("containers", [])
                          if c.get("name") == "pgbouncer"), {})
        if not {"cpu", "memory"} <= pgbouncer.get("resources", {}).get("limits", {}).keys():
            problems.append(f"{district}: Pooler {name} sets no cpu and memory limits for its "
                            "pgbouncer container")
        bootstrap = template.get("resources") or {"requests": defaults.get("defaultRequest", {}),
                                                  "limits": defaults.get("default", {})}
        add(pooler_settings(pooler)[0],
            {"containers": [pgbouncer], "initContainers": [{"resources": bootstrap}]})
    for key, total in totals.items():
        if key in hard and total > quantity(hard[key]) + 1e-9:
            unit = 2**30 if key.endswith("memory") else 1
            problems.append(f"{district}: {key} at the autoscalers' maxima is "
                            f"{total / unit:g}{'Gi' if unit > 1 else ''}, over the quota's "
                            f"{hard[key]}")
    server, pooled = direct, []
    for name, used in through.items():
        if not used["clients"]:
            continue
        pods, per_pair, admitted = pooler_settings(poolers[name])
        held = pods * per_pair * (len(used["pairs"]) + 1)
        server += held
        pooled.append(f"{used['clients']} client connections of {admitted} through {name}, "
                      f"which holds {held}")
        if used["clients"] > admitted:
            problems.append(f"{district}: the pools at the autoscalers' maxima open "
                            f"{used['clients']} client connections to {name}, over the "
                            f"{admitted} its PgBouncer pods admit while one is replaced or gone "
                            "(max_client_conn)")
    max_connections = int(postgres["postgresql"]["parameters"]["max_connections"])
    if server > max_connections - CONNECTION_RESERVE:
        problems.append(f"{district}: at the autoscalers' maxima PostgreSQL holds {server} "
                        f"connections ({direct} from the pods directly"
                        f"{''.join(f'; {p}' for p in pooled)}), over max_connections "
                        f"{max_connections} less {CONNECTION_RESERVE} reserved")
    summary = (f"{totals['pods']:g} pods, {totals['limits.cpu']:g} of {hard['limits.cpu']} CPU "
               f"limits, {totals['limits.memory'] / 2**30:g}Gi of {hard['limits.memory']} memory "
               f"limits, {server} of {max_connections} - {CONNECTION_RESERVE} connections"
               f"{''.join(f' ({p})' for p in pooled)}")
    return problems, summary


def check_startup_budget(district, rendered):
    """A pod that starts while the migrations Job holds the migration lock waits for it: its
    startup probe must outlast the Job's deadline, or the pod is restarted in a loop."""
    deadlines = [o["spec"].get("activeDeadlineSeconds", 0) for o in rendered if o["kind"] == "Job"]
    deadline = max(deadlines or [0])
    for o in rendered:
        if o["kind"] != "Deployment":
            continue
        for container in o["spec"]["template"]["spec"]["containers"]:
            probe = container.get("startupProbe", {})
            budget = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            if budget <= deadline:
                fail(f"{district}: {o['metadata']['name']} gives up starting after {budget} s, "
                     f"the migrations Job may hold the lock for {deadline} s")


def check_capacity(district, rendered, prerequisites):
    cluster_wide = kustomized(ROOT / "k8s" / "cluster")
    classes = {o["metadata"]["name"] for o in cluster_wide if o["kind"] == "PriorityClass"}
    for name, _, pod, _ in pods_at_most(rendered):
        wanted = pod.get("priorityClassName")
        if wanted and wanted not in classes:
            fail(f"{district}: {name} runs at PriorityClass {wanted}, defined nowhere under "
                 f"k8s/ (k8s/cluster defines {sorted(classes)})")
    problems, summary = capacity_problems(district, rendered, prerequisites)
    for problem in problems:
        fail(problem)
    if summary is None:
        return
    if not problems:
        print(f"  {district} at the autoscalers' maxima: {summary}")
    # The check refuses what the issue found: an autoscaler raised past the quota and the
    # connections (PostgreSQL's, or what the Pooler admits).
    grown = render(district, "--set", "services.grid.autoscaling.enabled=true",
                   "--set", "services.grid.autoscaling.maxReplicas=60")
    if grown.returncode != 0:
        fail(f"{district}: helm template with a larger grid autoscaler: {grown.stderr.strip()}")
        return
    refused = capacity_problems(district, objects_of(grown.stdout), prerequisites)[0]
    if not any("limits.cpu" in p for p in refused) or not any("connections" in p for p in refused):
        fail(f"{district}: 60 grid pods passed the capacity check: {refused}")
    # Through a Pooler, PostgreSQL's side grows with the Pooler's pool, not with the pods: a
    # pool raised past max_connections is refused too.
    used = {pod_database(pod)[0] for _, _, pod, _ in pods_at_most(rendered)}
    for pooler in (o for o in prerequisites if o["kind"] == "Pooler"
                   and o["metadata"]["name"] in used):
        larger = copy.deepcopy(prerequisites)
        for o in larger:
            if o["kind"] == "Pooler" and o["metadata"]["name"] == pooler["metadata"]["name"]:
                o["spec"]["pgbouncer"].setdefault("parameters", {})["default_pool_size"] = "40"
        refused = capacity_problems(district, rendered, larger)[0]
        if not any("max_connections" in p for p in refused):
            fail(f"{district}: a default_pool_size of 40 on {pooler['metadata']['name']} passed "
                 f"the connection check: {refused}")


# The labels CloudNativePG gives its pods, as the NetworkPolicies select them.
def instance_labels(cluster):
    name = cluster["metadata"]["name"]
    return {"cnpg.io/cluster": name, "cnpg.io/podRole": "instance",
            "cnpg.io/instanceRole": "primary", "role": "primary",
            "app.kubernetes.io/name": "postgresql", "app.kubernetes.io/instance": name,
            "app.kubernetes.io/component": "database",
            "app.kubernetes.io/managed-by": "cloudnative-pg"}


def pooler_labels(pooler):
    cluster = pooler["spec"]["cluster"]["name"]
    labels = dict(pooler["spec"].get("template", {}).get("metadata", {}).get("labels", {}))
    labels.update({"cnpg.io/poolerName": pooler["metadata"]["name"], "cnpg.io/cluster": cluster,
                   "cnpg.io/podRole": "pooler", "app.kubernetes.io/name": "postgresql",
                   "app.kubernetes.io/instance": cluster, "app.kubernetes.io/component": "pooler",
                   "app.kubernetes.io/managed-by": "cloudnative-pg"})
    return labels


def database_clients(rendered):
    """Every container of the chart that connects to a database: its workload, service, URL
    (None when it is the district's own), the Secret its password comes from, its pod's labels."""
    clients = []
    for o in (o for o in rendered if o["kind"] in ("Deployment", "Job")):
        template = o["spec"]["template"]
        for c in template["spec"]["containers"] + template["spec"].get("initContainers", []):
            env = {e["name"]: e for e in c.get("env", [])}
            if "JICENG_DATABASE_URL" not in env:
                continue
            args = c.get("args", [])
            password = env.get("JICENG_DATABASE_PASSWORD", {}).get("valueFrom", {})
            clients.append({
                "workload": f"{o['kind']} {o['metadata']['name']}",
                "service": args[args.index("--service") + 1] if "--service" in args else None,
                "url": database_url(c),
                "secret": password.get("secretKeyRef", {}).get("name"),
                "labels": template["metadata"]["labels"],
            })
    return clients


def database_problems(district, rendered, prerequisites):
    """Each enabled service connects as its own role, whose password CloudNativePG reads from
    the Secret the pods read, to its own database, owned by that role, at the Cluster's
    read-write Service or at one of its read-write Poolers whose name the server certificate
    carries; and the NetworkPolicies of both sides let it."""
    problems = []
    clusters = [o for o in prerequisites if o["kind"] == "Cluster"]
    if len(clusters) != 1:
        return [f"{district}: expected one PostgreSQL Cluster in k8s/districts/{district}"]
    cluster = clusters[0]
    name = cluster["metadata"]["name"]
    present = lambda spec: spec.get("ensure", "present") == "present"
    roles = {r["name"]: r for r in cluster["spec"].get("managed", {}).get("roles", [])
             if present(r)}
    databases = {o["spec"]["name"]: o["spec"] for o in prerequisites
                 if o["kind"] == "Database" and present(o["spec"])}
    poolers = {o["metadata"]["name"]: o for o in prerequisites if o["kind"] == "Pooler"
               and o["spec"]["cluster"]["name"] == name and o["spec"].get("type", "rw") == "rw"}
    secrets = {o["metadata"]["name"]: o for o in rendered if o["kind"] == "Secret"}
    chart_policies = [o["spec"] for o in rendered if o["kind"] == "NetworkPolicy"]
    built_policies = [o["spec"] for o in prerequisites if o["kind"] == "NetworkPolicy"]
    alt_names = cluster["spec"].get("certificates", {}).get("serverAltDNSNames", [])
    clients = database_clients(rendered)
    services = {o["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
                for o in rendered if o["kind"] == "Deployment"}
    for service in sorted(services - {c["service"] for c in clients}):
        problems.append(f"{district}: the {service} service connects to no database")

    def reaches(policies, source, target, port):
        return any(selects(p["podSelector"], source) and allows_port(rule, port)
                   and any(peer_is_pod(peer, target) for peer in rule.get("to", []))
                   for p in policies for rule in p.get("egress", []))

    def admits(policies, target, source, port):
        return any(selects(p["podSelector"], target) and allows_port(rule, port)
                   and any(peer_is_pod(peer, source) for peer in rule.get("from", []))
                   for p in policies for rule in p.get("ingress", []))

    for client in clients:
        url, service = client["url"], client["service"]
        where = f"{district}: {client['workload']} ({service})"
        if url is None:
            continue  # the district's own URLs: nothing here to compare them with
        role, database = url.username, url.path.lstrip("/")
        if role != f"jiceng_{service}" or database != f"jiceng_{service}":
            problems.append(f"{where}: connects as {role} to {database}, not as jiceng_{service} "
                            f"to jiceng_{service}")
        managed = roles.get(role)
        if not managed or not managed.get("login"):
            problems.append(f"{where}: {role} is no login role among Cluster {name}'s managed "
                            "roles")
        elif managed.get("passwordSecret", {}).get("name") != client["secret"]:
            problems.append(f"{where}: CloudNativePG sets {role}'s password from Secret "
                            f"{managed.get('passwordSecret', {}).get('name')}, the pods read "
                            f"Secret {client['secret']}")
        secret = secrets.get(client["secret"])
        if secret and base64.b64decode(secret["data"].get("username", "")).decode() != role:
            problems.append(f"{where}: Secret {client['secret']} names another user than {role}")
        owner = databases.get(database, {})
        if owner.get("owner") != role or owner.get("cluster", {}).get("name") != name:
            problems.append(f"{where}: no Database {database} of Cluster {name} owned by {role} "
                            f"(owner {owner.get('owner')})")
        host, port = url.hostname, url.port or 5432
        if host == f"{name}-rw":
            target = instance_labels(cluster)
        elif host in poolers:
            target = pooler_labels(poolers[host])
            if "sslmode=verify-full" in url.query and host not in alt_names:
                problems.append(f"{where}: connects to {host} with verify-full, a name the "
                                f"Cluster's server certificate lacks (serverAltDNSNames)")
        else:
            problems.append(f"{where}: {host} is neither Cluster {name}'s read-write Service "
                            f"({name}-rw) nor one of its read-write Poolers ({sorted(poolers)})")
            continue
        if port != 5432:
            problems.append(f"{where}: port {port}, PostgreSQL and PgBouncer listen on 5432")
        if chart_policies and not reaches(chart_policies, client["labels"], target, port):
            problems.append(f"{where}: the chart's NetworkPolicies let it reach no {host} pod "
                            f"on {port}")
        if not admits(built_policies, target, client["labels"], port):
            problems.append(f"{where}: no NetworkPolicy of k8s/districts/{district} admits it "
                            f"to {host}'s pods on {port}")
    for host, pooler in poolers.items():
        pods, instances = pooler_labels(pooler), instance_labels(cluster)
        if not reaches(built_policies, pods, instances, 5432) \
                or not admits(built_policies, instances, pods, 5432):
            problems.append(f"{district}: the NetworkPolicies of k8s/districts/{district} do not "
                            f"let Pooler {host}'s pods reach Cluster {name}'s instances on 5432")
    return problems


def check_database(district, rendered, prerequisites):
    problems = database_problems(district, rendered, prerequisites)
    for problem in problems:
        fail(problem)
    clients = [c for c in database_clients(rendered) if c["url"]]
    if not problems and clients:
        hosts = sorted({c["url"].hostname for c in clients})
        print(f"  {district}: each service connects as its own role to the database it owns, "
              f"at {', '.join(hosts)}; roles, passwords' Secrets and owners agree with "
              f"k8s/districts/{district}")
    if not clients:
        return
    # The check refuses what it is for: a database handed to another owner, a role reading its
    # password from another Secret, and a path to PostgreSQL that no NetworkPolicy opens.
    def other_owner(o):
        if o["kind"] == "Database" and o["spec"]["name"] == "jiceng_grid":
            o["spec"]["owner"] = "jiceng"

    def other_secret(o):
        for role in o["spec"].get("managed", {}).get("roles", []) if o["kind"] == "Cluster" else []:
            if role["name"] == "jiceng_member":
                role["passwordSecret"] = {"name": "jiceng-pg-password"}

    def closed(o):
        if o["kind"] == "NetworkPolicy":
            o["spec"]["ingress"] = []

    for label, spoil in (("jiceng_grid owned by another role", other_owner),
                         ("jiceng_member's password read from another Secret", other_secret),
                         ("NetworkPolicies that admit nothing to PostgreSQL", closed)):
        spoiled = copy.deepcopy(prerequisites)
        for o in spoiled:
            spoil(o)
        if not database_problems(district, rendered, spoiled):
            fail(f"{district}: the database check passed {label}")


def admitted_namespaces(objects):
    """Per service, the namespaces (by name) its NetworkPolicy admits callers from."""
    admitted = {}
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        component = policy["spec"]["podSelector"].get("matchLabels", {}).get(
            "app.kubernetes.io/component")
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", []):
                name = peer.get("namespaceSelector", {}).get("matchLabels", {}).get(
                    "kubernetes.io/metadata.name")
                if component and name:
                    admitted.setdefault(name, set()).add(component)
    return admitted


def check_egress_and_callers(district, objects):
    """Outside callers reach only the services their values entry names; name lookups reach
    port 53 wherever the cluster answers them unless the district narrows it."""
    values = yaml.safe_load((CHART / "values" / f"{district}.yaml").read_text())
    admitted = admitted_namespaces(objects)
    for caller in values.get("networkPolicy", {}).get("externalCallers", []):
        name = caller.get("namespaceSelector", {}).get("kubernetes.io/metadata.name")
        wanted = set(caller.get("services") or values_services())
        if name and admitted.get(name, set()) != wanted:
            fail(f"{district}: namespace {name} is admitted to {sorted(admitted.get(name, []))}, "
                 f"its values entry names {sorted(wanted)}")
        elif name:
            print(f"  {district}: namespace {name} may call {', '.join(sorted(wanted))} only")
    dns = [rule for o in objects if o["kind"] == "NetworkPolicy"
           for rule in o["spec"].get("egress", [])
           if any(p.get("port") == 53 for p in rule.get("ports", []))]
    if not dns or any(rule.get("to") and not values.get("networkPolicy", {}).get("dns")
                      for rule in dns):
        fail(f"{district}: name lookups are not open to port 53 wherever the cluster answers "
             f"them: {dns[:1]}")


def values_services():
    return yaml.safe_load((CHART / "values.yaml").read_text())["services"].keys()


def check_prerequisites():
    bases = [ROOT / "k8s" / "cluster", ROOT / "k8s" / "observability"] + sorted(
        (ROOT / "k8s" / "districts").iterdir())
    print(f"== k8s/: {len(bases)} kustomizations")
    for base in bases:
        where = str(base.relative_to(ROOT))
        built = run(KUBECTL, "kustomize", str(base))
        if built.returncode != 0:
            fail(f"{where}: kubectl kustomize: {built.stderr.strip()}")
            continue
        count = validate(where, objects_of(built.stdout))
        print(f"  {where}: {count} objects valid")


# What the services export, as Prometheus names (docs/OBSERVABILITY.md, "Metric catalogue"):
# metrics, histograms (with their _bucket, _sum and _count series) and labels. A dashboard or
# rule naming any other rpc_*, db_client_* or jiceng_* name would show nothing.
CONTRACT_METRICS = {
    "db_client_connection_count", "db_client_connection_max",
    "db_client_connection_timeouts_total",
    "jiceng_outbox_pending", "jiceng_outbox_parked", "jiceng_outbox_oldest_pending_age_seconds",
    "jiceng_outbox_unrouted", "jiceng_outbox_deliveries_total",
    "jiceng_webhook_attempts_total",
    "jiceng_grid_cases_reported_total", "jiceng_grid_cases_escalated_total",
    "jiceng_grid_cases_overdue",
    "jiceng_scanner_runs_total",
    "jiceng_cache_lookups_total", "jiceng_cache_invalidations_total",
    "jiceng_transparency_log_size", "jiceng_transparency_log_witnessed_size",
    "jiceng_transparency_log_diverged",
}
CONTRACT_HISTOGRAMS = {
    "rpc_server_duration_milliseconds", "rpc_client_duration_milliseconds",
    "jiceng_webhook_duration_milliseconds", "jiceng_scanner_duration_milliseconds",
}
CONTRACT_LABELS = {
    "rpc_system", "rpc_service", "rpc_method", "rpc_grpc_status_code", "jiceng_service",
    "db_client_connection_pool_name", "db_client_connection_state",
    "jiceng_outbox", "jiceng_street", "jiceng_scanner", "jiceng_cache", "jiceng_district",
    "jiceng_log",
}
CONTRACT_NAMES = CONTRACT_METRICS | CONTRACT_LABELS | {
    f"{h}{suffix}" for h in CONTRACT_HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
PLATFORM_NAME = re.compile(r"\b(?:rpc|db_client|jiceng)_[a-z0-9_]*", re.IGNORECASE)
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}


def unknown_names(text):
    return sorted({n for n in PLATFORM_NAME.findall(text) if n.lower() not in CONTRACT_NAMES})


def promtool(*args):
    try:
        return run(PROMTOOL, *args)
    except FileNotFoundError:
        fail(f"promtool not found ({PROMTOOL}): .ci/run installs Debian's prometheus package")
        return None


def check_rules(tmp):
    """The PrometheusRule's spec through promtool: syntax, then the unit tests."""
    path = OBSERVABILITY / "prometheus-rules.yaml"
    rule = yaml.safe_load(path.read_text())
    if rule.get("kind") != "PrometheusRule" or "groups" not in rule.get("spec", {}):
        fail(f"{path.name}: not a PrometheusRule with spec.groups")
        return
    for name in unknown_names(path.read_text()):
        fail(f"{path.name}: {name} is no metric or label the services export")
    rules_file = tmp / "prometheus-rules.yaml"
    rules_file.write_text(yaml.safe_dump(rule["spec"], sort_keys=False))
    checked = promtool("check", "rules", str(rules_file))
    if checked is None:
        return
    if checked.returncode != 0:
        fail(f"{path.name}: promtool check rules:\n{checked.stdout}{checked.stderr}")
        return
    rules = [r for g in rule["spec"]["groups"] for r in g["rules"]]
    alerts = [r for r in rules if "alert" in r]
    print(f"  {path.name}: {len(rules) - len(alerts)} recording rules and {len(alerts)} alerts "
          "pass promtool check rules")
    index = (RUNBOOKS / "README.md").read_text() if (RUNBOOKS / "README.md").exists() else ""
    for alert in alerts:
        name = alert["alert"]
        if alert.get("labels", {}).get("severity") not in ("page", "ticket"):
            fail(f"alert {name}: severity must be page or ticket")
        annotations = alert.get("annotations", {})
        missing = [a for a in ("summary", "description", "runbook_url") if not annotations.get(a)]
        if missing:
            fail(f"alert {name}: no {', '.join(missing)}")
        if annotations.get("runbook_url") != RUNBOOK_URL.format(name):
            fail(f"alert {name}: runbook_url is not {RUNBOOK_URL.format(name)}")
        if not (RUNBOOKS / f"{name}.md").exists():
            fail(f"alert {name}: no docs/runbooks/{name}.md")
        if f"({name}.md)" not in index:
            fail(f"alert {name}: docs/runbooks/README.md does not link {name}.md")
    names = {a["alert"] for a in alerts}
    for page in sorted(RUNBOOKS.glob("*.md")):
        if page.name != "README.md" and page.stem not in names:
            fail(f"docs/runbooks/{page.name}: no alert of that name")
    tests = sorted((OBSERVABILITY / "rules-tests").glob("*.yaml"))
    if not tests:
        fail("k8s/observability/rules-tests: no unit tests")
    fired = set()
    for test in tests:
        spec = yaml.safe_load(test.read_text())
        spec["rule_files"] = [str(rules_file)]
        for group in spec.get("tests", []):
            for case in group.get("alert_rule_test", []):
                if case.get("exp_alerts"):
                    fired.add(case["alertname"])
        target = tmp / f"test-{test.name}"
        target.write_text(yaml.safe_dump(spec, sort_keys=False, width=1000))
        tested = promtool("test", "rules", str(target))
        if tested is None:
            return
        if tested.returncode != 0:
            fail(f"rules-tests/{test.name}: promtool test rules:\n{tested.stdout}{tested.stderr}")
        else:
            cases = sum(len(g.get("alert_rule_test", [])) + len(g.get("promql_expr_test", []))
                        for g in spec.get("tests", []))
            print(f"  rules-tests/{test.name}: {cases} cases pass promtool test rules")
    for name in sorted(names - fired):
        fail(f"alert {name}: no unit test in which it fires")


def panels_of(panels):
    for panel in panels:
        yield panel
        yield from panels_of(panel.get("panels", []))


def datasources_of(node):
    """Every `datasource` a dashboard names, wherever it is."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            else:
                yield from datasources_of(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasources_of(item)


def grafana_to_promql(expr):
    """A dashboard query with Grafana's variables replaced, for promtool to parse."""
    expr = expr.replace("$__rate_interval", "5m").replace("$__range", "1d")
    expr = expr.replace("$__interval", "1m")
    return re.sub(r"\$\{?\w+\}?", "x", expr)


def check_dashboards(tmp):
    """Each dashboard: JSON, unique panel ids, `${datasource}` only, queries that parse."""
    folder = OBSERVABILITY / "dashboards"
    dashboards = sorted(folder.glob("*.json"))
    if not dashboards:
        fail("k8s/observability/dashboards: no dashboards")
    queries, uids = [], {}
    for path in dashboards:
        where = f"dashboards/{path.name}"
        failed_before = len(failures)
        text = path.read_text()
        try:
            board = json.loads(text)
        except json.JSONDecodeError as error:
            fail(f"{where}: not JSON: {error}")
            continue
        if board.get("uid") in uids:
            fail(f"{where}: uid {board.get('uid')} is also {uids[board.get('uid')]}'s")
        uids[board.get("uid")] = where
        for name in unknown_names(text):
            fail(f"{where}: {name} is no metric or label the services export")
        variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
        source = variables.get("datasource", {})
        if source.get("type") != "datasource" or source.get("query") != "prometheus":
            fail(f"{where}: no `datasource` variable of type datasource for prometheus")
        if "district" not in variables:
            fail(f"{where}: no `district` variable")
        for named in datasources_of(board):
            if named not in (DATASOURCE, "${datasource}"):
                fail(f"{where}: a datasource other than ${{datasource}}: {named}")
        panels = list(panels_of(board.get("panels", [])))
        ids = [p.get("id") for p in panels]
        duplicates = sorted({i for i in ids if ids.count(i) > 1}, key=str)
        if None in ids or duplicates:
            fail(f"{where}: panel ids missing or repeated: {duplicates}")
        count = 0
        for panel in panels:
            if panel.get("type") == "row":
                continue
            if not panel.get("targets"):
                fail(f"{where}: panel {panel.get('title')!r} has no query")
            for target in panel.get("targets", []):
                queries.append((f"{where}: {panel.get('title')}", target.get("expr", "")))
                count += 1
        for variable in variables.values():
            query = variable.get("query")
            query = query.get("query", "") if isinstance(query, dict) else query or ""
            inner = re.fullmatch(r"label_values\((.+),\s*\w+\)", query.strip())
            if variable.get("type") == "query":
                if not inner:
                    fail(f"{where}: variable {variable.get('name')}: not a label_values query")
                else:
                    queries.append((f"{where}: variable {variable.get('name')}", inner.group(1)))
        if len(failures) == failed_before:
            print(f"  {where}: {len(panels)} panels, {count} queries, ${{datasource}} only")
    if not queries:
        return
    # promtool parses rule files: each query becomes a recording rule.
    parse = tmp / "dashboard-queries.yaml"
    parse.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard_query_{n}", "expr": grafana_to_promql(expr)}
        for n, (_, expr) in enumerate(queries)]}]}))
    parsed = promtool("check", "rules", str(parse))
    if parsed is not None and parsed.returncode != 0:
        output = parsed.stdout + parsed.stderr
        bad = sorted({int(n) for n in re.findall(r"dashboard_query_(\d+)", output)})
        for n in bad:
            fail(f"{queries[n][0]}: no valid PromQL: {queries[n][1]}")
        if not bad:
            fail(f"dashboards: promtool could not parse the queries:\n{output}")
    elif parsed is not None:
        print(f"  dashboards: {len(queries)} queries parse as PromQL")
    built = run(KUBECTL, "kustomize", str(OBSERVABILITY))
    if built.returncode != 0:
        return  # check_prerequisites says why
    shipped = {key for o in objects_of(built.stdout) if o["kind"] == "ConfigMap"
               and o["metadata"].get("labels", {}).get("grafana_dashboard") == "1"
               for key in o.get("data", {})}
    for path in dashboards:
        if path.name not in shipped:
            fail(f"dashboards/{path.name}: in no ConfigMap labelled grafana_dashboard: \"1\"")


def check_observability():
    print("== observability: Prometheus rules and Grafana dashboards")
    with tempfile.TemporaryDirectory() as tmp:
        check_rules(Path(tmp))
        check_dashboards(Path(tmp))


def check_image():
    print("== image")
    linted = run(HADOLINT, str(ROOT / "Dockerfile"))
    if linted.returncode != 0:
        fail(f"Dockerfile: hadolint:\n{linted.stdout}{linted.stderr}")
    else:
        print("  Dockerfile: hadolint clean")


def main():
    check_chart()
    check_prerequisites()
    check_observability()
    check_image()
    if failures:
        print(f"\n{len(failures)} check(s) failed")
        return 1
    print("\nall Kubernetes checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
