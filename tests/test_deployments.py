"""prefect.yaml cannot drift from the code: every entrypoint imports to a flow, and the whole file deploys
to a real Prefect server."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from pathlib import Path

import yaml
from prefect import Flow
from prefect.client.orchestration import get_client

ROOT = Path(__file__).resolve().parents[1]
SPEC = yaml.safe_load((ROOT / "prefect.yaml").read_text())


def test_every_entrypoint_is_a_flow_taking_its_parameters():
    for deployment in SPEC["deployments"]:
        module_path, name = deployment["entrypoint"].split(":")
        module = importlib.import_module(module_path.removesuffix(".py").replace("/", "."))
        flow = getattr(module, name)
        assert isinstance(flow, Flow), deployment["name"]
        assert set(deployment.get("parameters") or {}) <= set(flow.parameters.properties), deployment["name"]


def test_prefect_deploy_all_creates_every_deployment(prefect_api, tmp_path):
    env = {**os.environ, "PREFECT_API_URL": prefect_api, "POSTLINE_CODE_DIR": str(ROOT)}
    prefect = [sys.executable, "-m", "prefect", "--no-prompt"]
    subprocess.run(prefect + ["work-pool", "create", "postline-local", "--type", "process", "--overwrite"],
                   env=env, cwd=ROOT, check=True, capture_output=True)
    done = subprocess.run(prefect + ["deploy", "--all"], env=env, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    with get_client(sync_client=True) as client:
        deployed = {d.name: d for d in client.read_deployments()}
    assert set(deployed) >= {d["name"] for d in SPEC["deployments"]}
    assert deployed["housekeeping"].schedules and deployed["production-report"].schedules
    assert deployed["order"].work_pool_name == "postline-local"
    # an order's process grades on threads that must share one heap (tasks/pixels/memory.py)
    assert deployed["order"].job_variables["env"]["MALLOC_ARENA_MAX"] == "1"
