"""What a lead sees of an order in the Prefect UI, read through the Prefect API: the order run's progress artifact
(updated as photos move: what waits where, who holds it, the command to run), the people-stage pause saying what
Resume does, the QC form's link to the review page, sub-runs named with their round, and the summary and stage
table on the order run itself with rework reasons and who did each stage."""

from __future__ import annotations

import io
import re
import threading
from pathlib import Path
from uuid import UUID

from fastapi.testclient import TestClient
from PIL import Image
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey, FlowRunFilter, FlowRunFilterName,
    FlowRunFilterParentFlowRunId,
)

from qc.review import PhotoRejection, QcDecision, ReviewReason
from record import people, work
from record.db import transaction
from record.models import QC_GATE
from surfaces.actions.gates import decide
from surfaces.actions.queue import pull_to_folder
from surfaces.web import create_app
from tasks.synthetic import write_card
from tasks.verify import verify
from tests.flowkit import retouch_everything, wait_until_paused
from tests.test_human_line import human_line  # noqa: F401 - human_line is a fixture


def artifacts(order_id: int, what: str, run: UUID) -> list:
    """The order's artifact ``what`` on the flow run ``run`` (other tests' orders share ids and the server)."""
    with get_client(sync_client=True) as client:
        return client.read_artifacts(artifact_filter=ArtifactFilter(
            key=ArtifactFilterKey(any_=[f"order-{order_id}-{what}"]), flow_run_id=ArtifactFilterFlowRunId(any_=[run])))


def order_run_id(order_id: int) -> UUID:
    """The order's own flow run (the root of the run waiting now)."""
    with transaction() as session:
        waiting = work.get_order(session, order_id).flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(UUID(waiting))
        return run.parent_task_run_id and client.read_task_run(run.parent_task_run_id).flow_run_id or run.id


def photos(order_id: int) -> list:
    with transaction() as session:
        return work.photos(session, order_id)


def pause_description(order_id: int) -> str:
    """The description of the paused run's form, as the Prefect UI's Resume dialog shows it."""
    from prefect.input.actions import read_flow_run_input

    with transaction() as session:
        waiting = work.get_order(session, order_id).flow_run_id
    with get_client(sync_client=True) as client:
        keyset = client.read_flow_run(UUID(waiting)).state.state_details.run_input_keyset
    return read_flow_run_input(keyset["description"], flow_run_id=UUID(waiting))


def test_the_order_run_shows_progress_rounds_and_who_did_what(human_line, tmp_path):
    from flows.order import order_flow
    from surfaces.actions.orders import create_order

    with transaction() as session:
        people.add_person(session, name="rita", role="retoucher", skills="liquify,skin", password="s3cret-pass")
        people.add_person(session, name="maria", role="lead", skills="", password=None)
    order_id = create_order(client="Lena", shoot="portrait", card=write_card(tmp_path / "card", 3), preset_name=None,
                            due=None).id
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("package", order_flow(order_id)), daemon=True)
    runner.start()

    assert wait_until_paused(order_id, "liquify_skin", runner) == f"Liquify & skin · order {order_id}"
    root = order_run_id(order_id)
    [progress] = artifacts(order_id, "progress", root)                  # on the order run, not the stage's
    assert f"order {order_id}: waiting for retouchers at Liquify & skin" in progress.data
    assert "`postline queue pull --stage liquify_skin --as NAME`" in progress.data
    assert "| **Liquify & skin** | people (manual) | 3 | 0 | 0 | – | 0 |" in progress.data
    resume = pause_description(order_id)
    assert "**Resume** does not hand anything back" in resume and "3 photo(s) of this order are waiting" in resume

    item, _ = pull_to_folder(person="rita", folder=tmp_path / "rita")   # a retoucher takes one: the artifact says so
    [progress] = artifacts(order_id, "progress", root)
    assert "| **Liquify & skin** | people (manual) | 2 | 0 | 1 | rita (1) | 0 |" in progress.data
    from surfaces.actions.queue import release
    release(item_id=item.id, person="rita")
    assert len(retouch_everything("rita", tmp_path / "rita")) == 3

    wait_until_paused(order_id, QC_GATE, runner)
    [progress] = artifacts(order_id, "progress", root)
    assert "waiting for the QC lead at QC gate" in progress.data
    form = pause_description(order_id)
    assert f"[Open the review page](http://127.0.0.1:8765/orders/{order_id}/qc)" in form
    # each photo small (a signed preview's small picture), its card name under it linking to the review page; no
    # image inside a link, which the Prefect UI shows as raw Markdown text
    thumbnails = re.findall(r"!\[([^]]+)\]\(http://127\.0\.0\.1:8765(/p/[^)/]+/small\.jpg)\) "
                            rf"\[\1\]\(http://127\.0\.0\.1:8765/orders/{order_id}/qc\)", form)
    assert sorted(name for name, _ in thumbnails) == sorted(p.source_name for p in photos(order_id))
    assert "[![" not in form
    with TestClient(create_app()) as web:
        shown = web.get(thumbnails[0][1])
    assert shown.status_code == 200 and shown.headers["content-type"] == "image/jpeg"
    assert max(Image.open(io.BytesIO(shown.content)).size) == 120       # the retouched file, small
    assert f"http://127.0.0.1:8765/orders/{order_id}/qc" in progress.data and f"`postline qc pending {order_id}`" in progress.data
    with transaction() as session:
        names = sorted(p.source_name for p in work.photos(session, order_id))
    decide(order_id, QcDecision(approve_all=False, lead="maria", rejections=[
        PhotoRejection(photo=names[0], reason=ReviewReason.OVER_SMOOTHED_SKIN, send_back_to="liquify_skin",
                       note="pores gone on the cheeks")]))

    assert wait_until_paused(order_id, "liquify_skin", runner) == f"Liquify & skin · order {order_id} · round 2"
    [progress] = artifacts(order_id, "progress", root)
    assert "| **Liquify & skin** | people (manual) | 1 | 1 | 0 | – | 3 |" in progress.data
    retouch_everything("rita", tmp_path / "rita")
    wait_until_paused(order_id, QC_GATE, runner)
    decide(order_id, QcDecision(approve_all=True, lead="maria"))
    runner.join(timeout=120)
    assert verify(Path(result["package"])) == []                          # a whole package, as its manifest says

    round_two = [f"{stage} · order {order_id} · round 2" for stage in (   # the automatic stages run fused, as one
        "Liquify & skin", "Fine retouch & colour → Design & layout", "QC gate")]
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_run_filter=FlowRunFilter(
            name=FlowRunFilterName(any_=round_two), parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[root])))
    assert sorted(run.name for run in runs) == sorted(round_two)           # sub-runs of this order's run

    [summary] = artifacts(order_id, "delivery", root)
    [table] = artifacts(order_id, "stages", root)
    [progress] = artifacts(order_id, "progress", root)
    assert "| Liquify & skin | 3 | 3 | 1 | 4 |" in summary.data and "| rita 4 |" in summary.data
    assert f"| {names[0]} | 1 | Liquify & skin | maria | [over_smoothed_skin] {names[0]}: pores gone on the cheeks |" \
        in summary.data
    assert '"done by": "automatic 4"' in table.data and f"order {order_id}: delivered" in progress.data
    gate_row = next(line for line in summary.data.splitlines() if line.startswith("| QC gate |"))
    assert gate_row.endswith("| maria 4 |"), gate_row          # who decided at the gate (it said nobody: –)
