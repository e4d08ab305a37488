#!/usr/bin/env python3
"""Checks the deployment examples under deploy/: every JSON and YAML file parses, every shell
script embedded in them (and every *.sh) passes `sh -n`, and the sharding examples hang
together (the shard index comes from the scheduler, the shard count matches the number of
map tasks, map and reduce share one volume, the reduce scans the Parquet shards).

    python3 deploy/check.py [DEPLOY_DIR]

Prints one line per file and exits 1 when anything is wrong. Needs PyYAML
(`pip install PyYAML==6.0.3`; .ci/run installs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

try:
    import yaml
except ImportError:
    print("deploy/check.py: PyYAML is missing: pip install PyYAML==6.0.3", file=sys.stderr)
    sys.exit(2)

PROBLEMS: list[str] = []


def problem(path: Path, msg: str) -> None:
    PROBLEMS.append(f"{path}: {msg}")


def sh_syntax(path: Path, where: str, script: str) -> None:
    """`sh -n` on an embedded script."""
    r = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True)
    if r.returncode != 0:
        problem(path, f"{where}: shell syntax: {r.stderr.strip()}")


def env_of(items: list[dict]) -> dict[str, str]:
    return {e["name"]: e.get("value", "") for e in items or []}


def check_batch(d: Path) -> None:
    """deploy/aws-batch: the map array job and the reduce job."""
    jm = json.loads((d / "job-definition-map.json").read_text())
    jr = json.loads((d / "job-definition-reduce.json").read_text())
    sm = json.loads((d / "submit-map.json").read_text())
    sr = json.loads((d / "submit-reduce.json").read_text())
    map_cmd = jm["containerProperties"]["command"]
    red_cmd = jr["containerProperties"]["command"]
    for name, cmd in (("map", map_cmd), ("reduce", red_cmd)):
        if cmd[:2] != ["sh", "-ec"] or len(cmd) != 3:
            problem(d, f"{name} command must be [\"sh\", \"-ec\", SCRIPT]")
            continue
        sh_syntax(d, f"{name} command", cmd[2])
    script = map_cmd[-1]
    for must in ("AWS_BATCH_JOB_ARRAY_INDEX", '--shard "$K/$SHARDS"', "--format parquet",
                 "keytrail events", "--since", "--until"):
        if must not in script:
            problem(d, f"map command lacks {must!r}")
    if "keytrail scan shard-*.parquet" not in red_cmd[-1]:
        problem(d, "reduce command does not scan shard-*.parquet")
    size = sm.get("arrayProperties", {}).get("size")
    shards = env_of(sm["containerOverrides"]["environment"]).get("SHARDS")
    if str(size) != shards:
        problem(d, f"submit-map.json: arrayProperties.size {size} != SHARDS {shards}")
    if env_of(sr["containerOverrides"]["environment"]).get("SHARDS") != shards:
        problem(d, "submit-reduce.json: SHARDS differs from submit-map.json")
    if not sr.get("dependsOn"):
        problem(d, "submit-reduce.json: no dependsOn (the reduce must wait for the map job)")
    if sm["jobDefinition"] != jm["jobDefinitionName"] or sr["jobDefinition"] != jr["jobDefinitionName"]:
        problem(d, "submit-*.json name other job definitions than the ones here")
    vols = [json.dumps(j["containerProperties"]["volumes"], sort_keys=True) for j in (jm, jr)]
    if vols[0] != vols[1]:
        problem(d, "map and reduce do not mount the same EFS volume")


def check_indexed_job(path: Path, docs: list[dict]) -> None:
    """deploy/kubernetes/indexed-job.yaml: the Indexed map Job and the reduce Job."""
    by_kind: dict[str, list[dict]] = {}
    for doc in docs:
        by_kind.setdefault(doc.get("kind", "?"), []).append(doc)
    jobs = by_kind.get("Job", [])
    maps = [j for j in jobs if j["spec"].get("completionMode") == "Indexed"]
    reduces = [j for j in jobs if j["spec"].get("completionMode") != "Indexed"]
    if len(maps) != 1 or len(reduces) != 1:
        problem(path, f"expected one Indexed map Job and one reduce Job, found {len(maps)} and {len(reduces)}")
        return
    cms = {c["metadata"]["name"]: c["data"] for c in by_kind.get("ConfigMap", [])}
    pvcs = {p["metadata"]["name"]: p for p in by_kind.get("PersistentVolumeClaim", [])}
    mp, rd = maps[0], reduces[0]

    def pod(job):
        return job["spec"]["template"]["spec"]

    def script(container):
        return "\n".join(container.get("args", []))

    def config_of(container):
        refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
        return cms.get(refs[0]) if refs else None

    map_c = pod(mp)["containers"][0]
    cfg = config_of(map_c)
    if cfg is None:
        problem(path, "map container takes no ConfigMap from this file")
        return
    if str(mp["spec"]["completions"]) != str(cfg.get("SHARDS")):
        problem(path, f"map completions {mp['spec']['completions']} != SHARDS {cfg.get('SHARDS')}")
    for must in ("JOB_COMPLETION_INDEX", '--shard "$K/$SHARDS"', "--format parquet", "keytrail events"):
        if must not in script(map_c):
            problem(path, f"map container lacks {must!r}")
    red_c = pod(rd)["containers"][0]
    if "keytrail scan shard-*.parquet" not in script(red_c):
        problem(path, "reduce container does not scan shard-*.parquet")
    for c in pod(rd).get("initContainers", []) + [map_c, red_c]:
        sh_syntax(path, f"container {c['name']}", script(c))
        if config_of(c) is not cfg:
            problem(path, f"container {c['name']} reads another ConfigMap than the map")
    claims = {json.dumps(v.get("persistentVolumeClaim"), sort_keys=True)
              for j in (mp, rd) for v in pod(j).get("volumes", [])}
    if len(claims) != 1:
        problem(path, "map and reduce do not mount the same volume")
    for v in pod(mp).get("volumes", []):
        claim = (v.get("persistentVolumeClaim") or {}).get("claimName")
        if claim and "ReadWriteMany" not in pvcs.get(claim, {}).get("spec", {}).get("accessModes", []):
            problem(path, f"volume claim {claim} is not ReadWriteMany (pods on several nodes share it)")


def main() -> int:
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent
    files = sorted(p for p in root.rglob("*") if p.suffix in (".json", ".yaml", ".yml", ".sh"))
    for p in files:
        try:
            if p.suffix == ".json":
                json.loads(p.read_text())
                what = "JSON ok"
            elif p.suffix == ".sh":
                sh_syntax(p, "script", p.read_text())
                what = "sh -n ok"
            else:
                docs = [d for d in yaml.safe_load_all(p.read_text()) if d is not None]
                for i, d in enumerate(docs):
                    if not isinstance(d, dict) or "apiVersion" not in d or "kind" not in d:
                        problem(p, f"document {i + 1} has no apiVersion/kind")
                if p.name == "indexed-job.yaml":
                    check_indexed_job(p, docs)
                what = f"YAML ok ({len(docs)} documents)"
        except (ValueError, yaml.YAMLError) as e:
            problem(p, f"does not parse: {e}")
            what = "BROKEN"
        print(f"{p.relative_to(root)}: {what}")
    if (root / "aws-batch").is_dir():
        check_batch(root / "aws-batch")
    for m in PROBLEMS:
        print(f"PROBLEM: {m}")
    print(f"deploy/check.py: {len(files)} files, {len(PROBLEMS)} problems")
    return 1 if PROBLEMS else 0


if __name__ == "__main__":
    sys.exit(main())
