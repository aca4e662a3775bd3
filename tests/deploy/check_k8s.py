#!/usr/bin/env python3
"""The Kubernetes manifests of deploy/k8s hold together (no cluster here, so
no kubectl --dry-run=server): the Deployment's selector matches its pods,
the gapwatchd container has liveness (/healthz) and readiness (/readyz)
probes on a port it declares, CPU and memory requests and a memory limit,
a grace period longer than gapwatchd's ~30 s drain, a PodDisruptionBudget
covering its pods, and mounts a ConfigMap defined in deploy/k8s. The
Prometheus Operator's objects: the ServiceMonitor selects the Service and
scrapes a port the Service names at /metrics; the PrometheusRule carries the
alerts of deploy/prometheus/rules/gapwatch.rules.yml in the same order (its
PromQL is promtool's: check_rules.sh) and selects the job the ServiceMonitor
produces (the Service's name).

    check_k8s.py SOURCE_DIR
"""

import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from deploylib import (
    Problems,
    Source,
    at,
    find_kind,
    get,
    items,
    line,
    load,
    scalar,
    selector_matches,
    yaml_files,
)

DEPLOYMENT = "deploy/k8s/deployment.yaml"
SERVICE = "deploy/k8s/service.yaml"
SERVICEMONITOR = "deploy/k8s/servicemonitor.yaml"
PROMETHEUSRULE = "deploy/k8s/prometheusrule.yaml"
RULES = "deploy/prometheus/rules/gapwatch.rules.yml"
GAPWATCHD_IMAGE = "gapwatch/gapwatchd"
DRAIN_S = 30  # gapwatchd's SIGTERM drain takes up to about this long (README)


def check_probe(c, probe, path, problems):
    """A probe's httpGet must ask `path` on a port the container declares."""
    get_ = get(get(c, probe), "httpGet")
    if get_ is None:
        problems.add(DEPLOYMENT, line(c), f"container has no {probe}.httpGet")
        return
    got = scalar(get(get_, "path"))
    if got != path:
        problems.add(DEPLOYMENT, line(get_), f"{probe} asks {got or '(no path)'}, expected {path}")
    port = scalar(get(get_, "port"))
    declared = any(
        port is not None and port in (scalar(get(p, "name")), scalar(get(p, "containerPort")))
        for p in items(get(c, "ports"))
    )
    if not declared:
        problems.add(
            DEPLOYMENT, line(get_), f"{probe} port {port or '(none)'} is not a port of the container"
        )


def check_deployment(src, manifests, problems):
    dep = find_kind(manifests.get(DEPLOYMENT, []), "Deployment")
    if dep is None:
        problems.add(DEPLOYMENT, 0, "no Deployment")
        return
    tmpl = at(dep, "spec.template")
    pod = get(tmpl, "spec")
    labels = at(tmpl, "metadata.labels")
    selector = at(dep, "spec.selector.matchLabels")
    if not selector_matches(selector, labels):
        problems.add(DEPLOYMENT, line(selector), "spec.selector does not match the pod labels")
    c = None
    for item in items(get(pod, "containers")):
        if (scalar(get(item, "image")) or "").startswith(GAPWATCHD_IMAGE + ":"):
            c = item
    if c is None:
        problems.add(DEPLOYMENT, 0, f"no container runs {GAPWATCHD_IMAGE}")
    else:
        check_probe(c, "livenessProbe", "/healthz", problems)
        check_probe(c, "readinessProbe", "/readyz", problems)
        for res in ("resources.requests.cpu", "resources.requests.memory", "resources.limits.memory"):
            if scalar(at(c, res)) is None:
                problems.add(DEPLOYMENT, line(c), f"container has no {res}")
    grace = get(pod, "terminationGracePeriodSeconds")
    if scalar(grace) is None:
        problems.add(
            DEPLOYMENT,
            line(pod),
            "no terminationGracePeriodSeconds (the default 30 s is not longer than gapwatchd's drain)",
        )
    elif not scalar(grace).isdigit() or int(scalar(grace)) <= DRAIN_S:
        problems.add(
            DEPLOYMENT,
            line(grace),
            f"terminationGracePeriodSeconds {scalar(grace)} is not longer than gapwatchd's ~{DRAIN_S} s drain",
        )

    # the PodDisruptionBudget, and the ConfigMap the pod mounts
    pdb = configmap = False
    mounted = {scalar(at(v, "configMap.name")) for v in items(get(pod, "volumes"))} - {None}
    for rel, docs in manifests.items():
        for doc in docs:
            kind = scalar(get(doc, "kind"))
            if kind == "PodDisruptionBudget":
                spec = get(doc, "spec")
                if not selector_matches(at(spec, "selector.matchLabels"), labels):
                    problems.add(rel, line(spec), "the PodDisruptionBudget's selector does not match the gapwatchd pods")
                elif get(spec, "maxUnavailable") is None and get(spec, "minAvailable") is None:
                    problems.add(rel, line(spec), "the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
                else:
                    pdb = True
            if kind == "ConfigMap" and scalar(at(doc, "metadata.name")) in mounted:
                configmap = True
    if not pdb:
        problems.add("deploy/k8s", 0, "no PodDisruptionBudget for the gapwatchd pods")
    if not configmap:
        problems.add(DEPLOYMENT, line(get(pod, "volumes")), "the pod mounts no ConfigMap defined in deploy/k8s")


def check_monitoring(src, manifests, problems):
    svc = find_kind(manifests.get(SERVICE, []), "Service")
    sm = find_kind(manifests.get(SERVICEMONITOR, []), "ServiceMonitor")
    pr = find_kind(manifests.get(PROMETHEUSRULE, []), "PrometheusRule")
    for doc, rel, kind in ((svc, SERVICE, "Service"), (sm, SERVICEMONITOR, "ServiceMonitor"), (pr, PROMETHEUSRULE, "PrometheusRule")):
        if doc is None:
            problems.add(rel, 0, f"no {kind}")
    if svc is None or sm is None or pr is None:
        return
    if scalar(get(sm, "apiVersion")) != "monitoring.coreos.com/v1":
        problems.add(SERVICEMONITOR, line(get(sm, "apiVersion")), "apiVersion is not monitoring.coreos.com/v1")
    selector = at(sm, "spec.selector.matchLabels")
    if not selector_matches(selector, at(svc, "metadata.labels")):
        problems.add(SERVICEMONITOR, line(selector), "spec.selector does not select the gapwatchd Service's labels")
    endpoints = items(at(sm, "spec.endpoints"))
    if not endpoints:
        problems.add(SERVICEMONITOR, 0, "no endpoints")
    port_names = {scalar(get(p, "name")) for p in items(at(svc, "spec.ports"))} - {None}
    for ep in endpoints:
        port = scalar(get(ep, "port"))
        if port not in port_names:
            problems.add(SERVICEMONITOR, line(ep), f"port {port or '-'} is not a port name of the Service")
        if scalar(get(ep, "path")) != "/metrics":
            problems.add(SERVICEMONITOR, line(ep), "path is not /metrics")

    # same alert names, in the same order, as the rules file
    rules = load(src, RULES, problems)
    kgroups = items(at(pr, "spec.groups"))
    fgroups = items(get(rules[0], "groups")) if rules else []
    nk = nf = 0
    for g, (kg, fg) in enumerate(zip(kgroups, fgroups)):
        kr, fr = items(get(kg, "rules")), items(get(fg, "rules"))
        for i in range(max(len(kr), len(fr))):
            a = scalar(get(kr[i], "alert")) if i < len(kr) else None
            b = scalar(get(fr[i], "alert")) if i < len(fr) else None
            nk += a is not None
            nf += b is not None
            if a is None or a != b:
                problems.add(
                    PROMETHEUSRULE,
                    line(kr[i]) if i < len(kr) else line(kg),
                    f"rule {i} of group {g} is {a or 'missing'}, the rules file has {b or 'missing'} "
                    "(run tools/k8s-rules.sh)",
                )
    if len(kgroups) != len(fgroups) or nk == 0:
        problems.add(
            PROMETHEUSRULE,
            0,
            f"{len(kgroups)} groups and {nk} alerts, the rules file {len(fgroups)} and {nf}",
        )
    job = f'job="{scalar(at(svc, "metadata.name"))}"'
    if job not in src.read(PROMETHEUSRULE):
        problems.add(PROMETHEUSRULE, 0, f"no rule selects {job}, the job the ServiceMonitor produces")


def main():
    src = Source(sys.argv[1])
    problems = Problems("deploy/k8s")
    manifests = {rel: load(src, rel, problems) for rel in yaml_files(src, "deploy/k8s")}
    check_deployment(src, manifests, problems)
    check_monitoring(src, manifests, problems)
    problems.finish(f"{sum(len(d) for d in manifests.values())} manifests")


if __name__ == "__main__":
    main()
