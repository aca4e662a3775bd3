#!/usr/bin/env python3
"""The Grafana dashboard is provisioned with stable uids: the provider's
folder is where compose mounts deploy/grafana/dashboards (and the home
dashboard is in it), the dashboard keeps uid gapwatch-overview (bookmarks and
links use it) with a null id, every datasource reference is {type, uid} with
the provisioned Prometheus uid (a name or a ${DS_...} input breaks when the
file is provisioned rather than imported by hand), panel ids and refIds are
unique, every panel has a title and a query, and queries use only the
variables test_observability substitutes: $tenant $team $rep $window $period.

    check_grafana.py SOURCE_DIR
"""

import json
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
from deploylib import Problems, Source, at, get, items, load, scalar

DASHBOARD = "deploy/grafana/dashboards/gapwatch.json"
DASHBOARD_UID = "gapwatch-overview"
DATASOURCES = "deploy/grafana/provisioning/datasources/prometheus.yaml"
PROVIDERS = "deploy/grafana/provisioning/dashboards/gapwatch.yaml"
COMPOSE = "deploy/compose.yaml"
REQUIRED_VARIABLES = ["tenant", "team", "rep", "window"]
ALLOWED_VARIABLES = {"tenant", "team", "rep", "window", "period"}


class Dashboard:
    """Walks the dashboard's panels, collecting problems against its text
    (a panel's line is the line of its title, when the title is unique)."""

    def __init__(self, text, uid, problems):
        self.lines = text.splitlines()
        self.uid = uid
        self.problems = problems
        self.ids = set()
        self.queries = 0
        self.wrong = []  # (where, line, uid) of references to another uid

    def line_of(self, needle):
        hits = [n for n, l in enumerate(self.lines, 1) if needle in l]
        return hits[0] if len(hits) == 1 else 0

    def add(self, where_line, text):
        self.problems.add(DASHBOARD, where_line, text)

    def datasource(self, ds, where, where_line):
        if not isinstance(ds, dict):
            self.add(where_line, f"{where}: datasource is not {{type, uid}}")
        elif ds.get("uid") != self.uid:
            self.wrong.append((where, where_line, ds.get("uid")))

    def panels(self, panels):
        for panel in panels or []:
            title = panel.get("title")
            where = f'panel "{title or "(untitled)"}"'
            pl = self.line_of(json.dumps("title") + ": " + json.dumps(title)) if title else 0
            pid = panel.get("id")
            if not isinstance(pid, int) or isinstance(pid, bool):
                self.add(pl, f"{where}: no integer id")
            elif pid in self.ids:
                self.add(pl, f"{where}: id {pid} used twice")
            else:
                self.ids.add(pid)
            self.panels(panel.get("panels"))  # collapsed rows nest their panels
            if panel.get("type") in ("row", "text"):
                continue
            if not title:
                self.add(pl, f"panel id {pid} has no title")
            panel_ds = panel.get("datasource")
            if panel_ds is not None:
                self.datasource(panel_ds, where, pl)
            targets = panel.get("targets") or []
            if not targets:
                self.add(pl, f"{where}: no query")
            refs = set()
            for t in targets:
                ref = t.get("refId")
                twhere = f"{where} query {ref or '(no refId)'}"
                if not ref:
                    self.add(pl, f"{twhere}: no refId")
                elif ref in refs:
                    self.add(pl, f"{twhere}: refId used twice")
                refs.add(ref)
                if "datasource" in t or panel_ds is None:
                    self.datasource(t.get("datasource"), twhere, pl)
                expr = t.get("expr")
                if not expr:
                    self.add(pl, f"{twhere}: empty expr")
                else:
                    for name in re.findall(r"\$\{?([A-Za-z0-9_]+)", expr):
                        if name not in ALLOWED_VARIABLES:
                            self.add(
                                pl,
                                f"{twhere}: uses ${name}; only $tenant, $team, $rep, $window, "
                                "$period are defined (and tested)",
                            )
                self.queries += 1


def no_duplicate_keys(pairs_):
    keys = [k for k, _ in pairs_]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise ValueError(f'key "{dup[0]}" appears twice in one object')
    return dict(pairs_)


def main():
    src = Source(sys.argv[1])
    problems = Problems("Grafana")

    # the data source the dashboard must refer to, by uid
    uid = None
    docs = load(src, DATASOURCES, problems)
    for ds in items(get(docs[0], "datasources")) if docs else []:
        if scalar(get(ds, "type")) == "prometheus" and scalar(get(ds, "uid")):
            uid = scalar(get(ds, "uid"))
    if not uid:
        problems.add(DATASOURCES, 0, "no Prometheus data source with a fixed uid")

    # the provider's folder is where compose mounts the dashboards
    docs = load(src, PROVIDERS, problems)
    providers = items(get(docs[0], "providers")) if docs else []
    folder = scalar(at(providers[0], "options.path")) if providers else None
    if not folder:
        problems.add(PROVIDERS, 0, "no providers[0].options.path")
    docs = load(src, COMPOSE, problems)
    grafana = at(docs[0], "services.grafana") if docs else None
    mounts = [scalar(v).split(":")[:2] for v in items(get(grafana, "volumes")) if scalar(v)]
    if folder and ["./grafana/dashboards", folder] not in mounts:
        problems.add(
            COMPOSE,
            0,
            f"grafana does not mount ./grafana/dashboards at {folder}, the provisioned dashboard folder",
        )
    home = at(grafana, "environment.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if folder and scalar(home) and scalar(home) != f"{folder}/gapwatch.json":
        problems.add(
            COMPOSE,
            home.start_mark.line + 1,
            f"GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH is {scalar(home)}, not {folder}/gapwatch.json",
        )

    # the dashboard
    text = src.read(DASHBOARD)
    try:
        dash = json.loads(text, object_pairs_hook=no_duplicate_keys)
    except json.JSONDecodeError as e:
        problems.add(DASHBOARD, e.lineno, f"not valid JSON: column {e.colno}: {e.msg}")
        problems.finish()
    except ValueError as e:
        problems.add(DASHBOARD, 0, str(e))
        problems.finish()
    w = Dashboard(text, uid, problems)
    if dash.get("uid") != DASHBOARD_UID:
        w.add(w.line_of('"uid": ' + json.dumps(dash.get("uid"))), f'uid is "{dash.get("uid")}", expected "{DASHBOARD_UID}"')
    if dash.get("id") is not None:
        w.add(0, "id must be null in a provisioned dashboard (Grafana assigns it)")
    if not dash.get("title"):
        w.add(0, "no title")
    variables = {v.get("name"): v for v in (dash.get("templating") or {}).get("list") or []}
    for name in REQUIRED_VARIABLES:
        var = variables.get(name)
        where = f"variable {name}"
        vl = w.line_of('"name": ' + json.dumps(name))
        if var is None:
            w.add(0, f"no template variable {name}")
            continue
        w.datasource(var.get("datasource"), where, vl)
        q = var.get("query")
        q = q.get("query") if isinstance(q, dict) else q
        if not isinstance(q, str) or "gapwatch_rep" not in q:
            w.add(vl, f"{where}: its query does not read gapwatch_rep labels")
    w.panels(dash.get("panels"))
    if w.wrong:
        where, where_line, got = w.wrong[0]
        w.add(
            where_line,
            f'{len(w.wrong)} datasource references use uid "{got}" (the first: {where}), '
            f'not the provisioned "{uid}"',
        )
    if w.queries == 0:
        w.add(0, "no panel has a query")
    problems.finish(
        f"dashboard {DASHBOARD_UID}: {len(w.ids)} panels and rows, {w.queries} queries, datasource uid {uid}"
    )


if __name__ == "__main__":
    main()
