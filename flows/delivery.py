"""Delivery for one order: every photo that passed, in the renditions of the order's recipe (a batch of
photos per task run, one pass per photo), packed into the order's delivery package in the archive.

``repackage_flow`` is `postline deliver N`: a delivered order packed again (its recipe changed, its package
was damaged or removed) without running the line: it holds the order like a run of it does, and makes again
from the originals the finished files the new files need and that are gone (tasks/stages.py)."""

from prefect import flow, unmapped

from tasks.deliver import package_order, plan_delivery, render_batch
from tasks.runners import photo_runner
from tasks.runs import order_run
from tasks.stages import restore_finished_files


@flow(name="delivery", flow_run_name="Delivery · order {order_id}")
def delivery_flow(order_id: int) -> str:
    """The photos' files in batches on the run's photo runner (tasks/runners.py: threads, or the Dask cluster),
    then the package."""
    batches = plan_delivery(order_id)
    for future in render_batch.map(unmapped(order_id), batches):
        future.result()
    return package_order(order_id)


@flow(name="repackage", flow_run_name="Re-package · order {order_id}")
def repackage_flow(order_id: int) -> str:
    with order_run(order_id):
        restore_finished_files(order_id)
        return delivery_flow.with_options(task_runner=photo_runner())(order_id)


if __name__ == "__main__":
    import sys

    print(delivery_flow(int(sys.argv[1])))
