"""One stage of the line for one order. Automatic: the stage and the automatic stages after it (its automatic
run, config.line.Line.segment) work their queued photos in batches, one pass per photo through the whole run;
each photo moves on (to people's queues, the QC gate) as soon as its pass is done. Manual: the photos wait in the
stage's queue for retouchers, and the run waits for them (paused, holding no CPU). Assisted: postline prepares
what is not prepared yet (a pass ending before the stage prepares its photos itself), then as manual."""

from prefect import flow, unmapped
from prefect.runtime import flow_run

from config.line import StageMode
from flows.waiting import wait_for_people
from tasks.handoff import prepare_batch
from tasks.planning import add_counts, plan_batches, run_title
from tasks.progress import publish_progress
from tasks.runs import line_of
from tasks.stages import restore_stage_inputs, run_stage_batch


def _run_name() -> str:
    return run_title(flow_run.parameters["order_id"], flow_run.parameters["stage"])


@flow(name="stage", flow_run_name=_run_name)
def stage_flow(order_id: int, stage: str) -> dict[str, int]:
    mode = line_of(order_id).stage(stage).mode
    restore_stage_inputs(order_id, stage)     # a graded-only photo's graded file, gone since delivery
    batches = plan_batches(order_id, stage)
    if mode is StageMode.AUTOMATIC:
        futures = run_stage_batch.map(unmapped(order_id), unmapped(stage), batches)
        counts = []
        for future in futures:                 # the order run's progress, batch by batch
            counts.append(future.result())
            publish_progress(order_id)
        return add_counts(counts)
    if mode is StageMode.ASSISTED:
        prepare_batch.map(unmapped(order_id), unmapped(stage), batches).result()
    wait_for_people(order_id, stage)
    return {"handed_back": sum(len(batch) for batch in batches)}


if __name__ == "__main__":
    import sys

    print(stage_flow(int(sys.argv[1]), sys.argv[2]))
