#!/usr/bin/python3
# tests/integration/ci_recipe.py - run the commands of a CI recipe
# (contrib/ci/*.yml) here, as the CI service would, with the built binary.
#
#   ci_recipe.py github WORKFLOW EVENT   (EVENT: pull_request or push)
#   ci_recipe.py gitlab FILE SOURCE      (SOURCE: merge_request_event, push)
#
# Run in the checkout the recipe applies to, with custody-policy on PATH.
# Steps that install custody-policy are skipped (the built binary stands in
# for them), `uses:` steps are recorded, not run. GitHub expressions are
# evaluated for the few forms the recipe uses; any other form is an error,
# so the recipe cannot grow something this test does not run. Prints one
# JSON object: what ran, each exit status, the recorded steps and, for
# GitLab, the reports each job declares.
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")


def github(path, event):
    wf = yaml.safe_load(open(path))
    tmp = tempfile.mkdtemp(prefix="gh.")
    ctx = {
        "github.event_name": event,
        "github.base_ref": "main" if event == "pull_request" else "",
        "github.token": "test-token",
        "github.event.pull_request.number": "7",
        "vars.CUSTODY_REPO": "/nonexistent/custody.git",
        "vars.CUSTODY_REF": "v0",
        "vars.CUSTODY_FAIL_ON_ESCALATION":
            os.environ.get("CUSTODY_FAIL_ON_ESCALATION", ""),
    }
    out = {"steps": [], "uses": [], "failed": False}
    outputs = {}

    def value(name):
        m = re.fullmatch(r"steps\.([A-Za-z0-9_-]+)\.outputs\.([A-Za-z0-9_-]+)",
                         name)
        if m:
            return outputs.get(m.group(1), {}).get(m.group(2), "")
        if name in ctx:
            return ctx[name]
        raise SystemExit("ci_recipe: unknown expression %r" % name)

    def term(t):
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)\s*(==|!=)\s*'([^']*)'", t)
        if not m:
            raise SystemExit("ci_recipe: unknown condition %r" % t)
        eq = value(m.group(1)) == m.group(3)
        return eq if m.group(2) == "==" else not eq

    # An `if:` is terms joined by &&; without always() GitHub adds an
    # implicit success(): the step is skipped after a failure.
    def cond(expr, failed):
        expr = EXPR.sub(lambda m: m.group(1), expr.strip())
        terms = [t.strip() for t in expr.split("&&")]
        if "always()" in terms:
            terms.remove("always()")
        elif failed:
            return False
        return all(term(t) for t in terms)

    def subst(s):
        return EXPR.sub(lambda m: value(m.group(1)), str(s))

    for name, job in wf["jobs"].items():
        for i, step in enumerate(job["steps"]):
            sid = step.get("id", "step%d" % i)
            failed = out["failed"]
            if "if" in step:
                if not cond(step["if"], failed):
                    continue
            elif failed:
                continue
            if "uses" in step:
                if "run" in step:
                    raise SystemExit("ci_recipe: uses and run in one step")
                out["uses"].append({"uses": step["uses"], "with": {
                    k: subst(v) for k, v in step.get("with", {}).items()}})
                continue
            if sid == "install-custody-policy":
                continue
            env = dict(os.environ)
            env.update({k: subst(v) for k, v in step.get("env", {}).items()})
            gho = os.path.join(tmp, "output.%d" % i)
            open(gho, "w").close()
            env.update({"GITHUB_OUTPUT": gho, "RUNNER_TEMP": tmp,
                        "GITHUB_PATH": os.path.join(tmp, "path")})
            # GitHub's shells for run steps on Linux: the default one,
            # and `shell: bash`, which adds pipefail.
            shell = ["bash", "--noprofile", "--norc", "-e"]
            if step.get("shell") == "bash":
                shell += ["-o", "pipefail"]
            elif "shell" in step:
                raise SystemExit("ci_recipe: unknown shell %r" % step["shell"])
            rc = subprocess.call(shell + ["-c", subst(step["run"])],
                                 env=env, stdout=sys.stderr)
            outputs[sid] = dict(line.rstrip("\n").split("=", 1)
                                for line in open(gho) if "=" in line)
            out["steps"].append({"id": sid, "name": step.get("name", ""),
                                 "status": rc})
            if rc != 0 and not step.get("continue-on-error", False):
                out["failed"] = True
    return out


def gitlab(path, source):
    doc = yaml.safe_load(open(path))
    out = {"jobs": {}}
    for name, job in doc.items():
        if name.startswith(".") or not isinstance(job, dict):
            continue
        rules = job.get("rules", [])
        if rules and not any(
                "if" not in r or r["if"] ==
                '$CI_PIPELINE_SOURCE == "%s"' % source for r in rules):
            continue
        for r in rules:
            if "if" in r and not r["if"].startswith("$CI_PIPELINE_SOURCE =="):
                raise SystemExit("ci_recipe: unknown rule %r" % r["if"])
        # The runner's shell: one session, every line under -eo pipefail.
        script = "set -eo pipefail\n" + "\n".join(job["script"]) + "\n"
        env = dict(os.environ)
        env.update({k: str(v) for k, v in job.get("variables", {}).items()})
        rc = subprocess.call(["bash", "--noprofile", "--norc", "-c", script],
                             stdout=sys.stderr, env=env)
        out["jobs"][name] = {
            "status": rc,
            "reports": job.get("artifacts", {}).get("reports", {}),
            "paths": job.get("artifacts", {}).get("paths", []),
        }
    return out


def main():
    kind, path, arg = sys.argv[1:4]
    res = github(path, arg) if kind == "github" else gitlab(path, arg)
    json.dump(res, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
