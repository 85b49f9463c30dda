#!/usr/bin/env python3
"""Offline checks of what a district deploys: the Helm chart for every district's values and
the cluster prerequisites under k8s/.

- `helm lint --strict` and `helm template` for every values/<district>.yaml;
- every rendered object validated strictly against the Kubernetes version we target
  (kubernetes-validate's bundled schemas), custom resources by their CRDs' own schemas where a
  package publishes them (scripts/validate-crds.mjs);
- the Secrets the chart may write are the platform's own keys (internal, personal-data, log
  signing), each generated once and kept, or a named Secret in its place;
- the values schema refuses a wrong type and an unknown key;
- every Deployment has probes, limits, non-root, a read-only root filesystem and a PDB;
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
  migrations Job and the district's PostgreSQL instances, the pods' requests and limits fit the
  namespace's ResourceQuota; and the services' connection pools at that many pods fit
  PostgreSQL's `max_connections` less a reserve (the same check is shown to refuse an
  autoscaler raised past either); a pod's startup probe outlasts the migrations Job's deadline;
- the Dockerfile passes hadolint.

Needs HELM, KUBECTL and PROMTOOL (paths to the binaries; PROMTOOL defaults to `promtool` on the
PATH) and JICENG_CI_NODE_MODULES (where @kubernetes-models/gateway-api and
@kubernetes-models/prometheus-operator are installed) in the environment; .ci/run provides them.
"""

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
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


# Environment variables that carry secrets: they must come from a Secret, never a value.
SECRET_ENV = ("JICENG_DATABASE_URL", "JICENG_INTERNAL_KEY", "JICENG_PII_KEY",
              "JICENG_LOG_SIGNING_KEY", "JICENG_JWT_SECRET")


# The Secrets the chart may write: the keys the platform owns, generated once and kept (each
# suffix, and how its value must look).
GENERATED_KEYS = {
    "-internal-key": lambda value: len(value) >= 32,
    "-pii-key": lambda value: len(value) >= 32,
    "-log-signing-key": lambda value: re.fullmatch(rb"[0-9a-f]{64}", value) is not None,
}


def check_generated_key(name, secret):
    """A Secret the chart writes is one of the platform's own keys, generated and kept."""
    suffix = next((s for s in GENERATED_KEYS if secret["metadata"]["name"].endswith(s)), None)
    if suffix is None:
        fail(f"{name}: the chart writes a Secret; it only references existing ones")
        return
    if secret["metadata"].get("annotations", {}).get("helm.sh/resource-policy") != "keep":
        fail(f"{name}: the key would be lost on uninstall")
    values = list(secret.get("data", {}).values())
    if len(values) != 1 or not GENERATED_KEYS[suffix](base64.b64decode(values[0])):
        fail(f"{name}: not one value of the key's form")


def check_secrets(district, objects):
    for obj in objects:
        name = f"{district}: {obj['kind']} {obj['metadata']['name']}"
        if obj["kind"] == "Secret":
            check_generated_key(name, obj)
        if obj["kind"] == "ConfigMap" and any(k in SECRET_ENV for k in obj.get("data", {})):
            fail(f"{name}: a secret in a ConfigMap")
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            for env in container.get("env", []):
                if env["name"] in SECRET_ENV and "secretKeyRef" not in env.get("valueFrom", {}):
                    fail(f"{name}: {env['name']} is not taken from a Secret")


def selects(selector, labels):
    return all(labels.get(k) == v for k, v in (selector or {}).get("matchLabels", {}).items())


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
        check_capacity(district, objects)
        check_startup_budget(district, objects)
        check_egress_and_callers(district, objects)
        matrix = call_matrix(objects)
        if matrix != EXPECTED_CALLS:
            fail(f"{district}: NetworkPolicies allow {matrix}, expected {EXPECTED_CALLS}")
        print(f"  {district}: {count} objects valid for Kubernetes {KUBERNETES_VERSION}")
        matrices[district] = matrix
    print("  who may call whom, computed from each district's rendered NetworkPolicies:")
    for matrix in {json.dumps(m, default=sorted, sort_keys=True) for m in matrices.values()}:
        print_matrix({caller: set(callees) for caller, callees in json.loads(matrix).items()})
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
    for label, setting in (("a wrong type", "services.grid.replicas=three"),
                           ("an unknown key", "services.grid.replica=3"),
                           ("an unknown service", "services.billing.replicas=1")):
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


def capacity_problems(district, rendered, prerequisites):
    """What would not fit in the district's namespace at the autoscalers' maxima, and a line
    saying what does (None when the district's prerequisites cannot be read)."""
    problems = []
    quotas = [o for o in prerequisites if o["kind"] == "ResourceQuota"]
    clusters = [o for o in prerequisites if o["kind"] == "Cluster"]
    if len(quotas) != 1 or len(clusters) != 1:
        return [f"{district}: expected one ResourceQuota and one PostgreSQL Cluster in "
                f"k8s/districts/{district}, found {len(quotas)} and {len(clusters)}"], None
    hard = quotas[0]["spec"]["hard"]
    postgres = clusters[0]["spec"]
    totals = {key: 0.0 for key in ("requests.cpu", "requests.memory", "limits.cpu",
                                   "limits.memory", "pods")}
    connections = 0
    for _, count, pod, pool in pods_at_most(rendered):
        totals["pods"] += count
        connections += count * pool
        # An init container runs before the others: the pod holds the larger of the two.
        for kind in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                running = sum(quantity(c.get("resources", {}).get(kind, {}).get(resource, 0))
                              for c in pod["containers"])
                starting = max([quantity(c.get("resources", {}).get(kind, {}).get(resource, 0))
                                for c in pod.get("initContainers", [])] or [0])
                totals[f"{kind}.{resource}"] += count * max(running, starting)
    instances = postgres.get("instances", 1)
    totals["pods"] += instances
    for kind in ("requests", "limits"):
        for resource in ("cpu", "memory"):
            totals[f"{kind}.{resource}"] += instances * quantity(
                postgres.get("resources", {}).get(kind, {}).get(resource, 0))
    for key, total in totals.items():
        if key in hard and total > quantity(hard[key]) + 1e-9:
            unit = 2**30 if key.endswith("memory") else 1
            problems.append(f"{district}: {key} at the autoscalers' maxima is "
                            f"{total / unit:g}{'Gi' if unit > 1 else ''}, over the quota's "
                            f"{hard[key]}")
    max_connections = int(postgres["postgresql"]["parameters"]["max_connections"])
    if connections > max_connections - CONNECTION_RESERVE:
        problems.append(f"{district}: the pools at the autoscalers' maxima open {connections} "
                        f"connections, over max_connections {max_connections} less "
                        f"{CONNECTION_RESERVE} reserved")
    summary = (f"{totals['pods']:g} pods, {totals['limits.cpu']:g} of {hard['limits.cpu']} CPU "
               f"limits, {totals['limits.memory'] / 2**30:g}Gi of {hard['limits.memory']} memory "
               f"limits, {connections} of {max_connections} - {CONNECTION_RESERVE} connections")
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


def check_capacity(district, rendered):
    prerequisites = kustomized(ROOT / "k8s" / "districts" / district)
    if not prerequisites:
        return
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
    # connections.
    grown = render(district, "--set", "services.grid.autoscaling.enabled=true",
                   "--set", "services.grid.autoscaling.maxReplicas=60")
    if grown.returncode != 0:
        fail(f"{district}: helm template with a larger grid autoscaler: {grown.stderr.strip()}")
        return
    refused = capacity_problems(district, objects_of(grown.stdout), prerequisites)[0]
    if not any("limits.cpu" in p for p in refused) or not any("connections" in p for p in refused):
        fail(f"{district}: 60 grid pods passed the capacity check: {refused}")


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
