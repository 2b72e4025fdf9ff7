"""One stage of the line for one order: its queued photos, in batches, through the stage's operation."""

from prefect import flow, unmapped
from prefect.runtime import flow_run

from config.line import get_line
from tasks.planning import add_counts, plan_batches
from tasks.stages import run_stage_batch


def _run_name() -> str:
    params = flow_run.parameters
    return f"{get_line().stage(params['stage']).title} · order {params['order_id']}"


@flow(name="stage", flow_run_name=_run_name)
def stage_flow(order_id: int, stage: str) -> dict[str, int]:
    batches = plan_batches(order_id, stage)
    futures = run_stage_batch.map(unmapped(order_id), unmapped(stage), batches)
    return add_counts([future.result() for future in futures])


if __name__ == "__main__":
    import sys

    print(stage_flow(int(sys.argv[1]), sys.argv[2]))
