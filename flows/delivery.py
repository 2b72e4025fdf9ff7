"""Delivery for one order: the zip of full and web JPEGs with its manifest."""

from prefect import flow

from tasks.deliver import package_order


@flow(name="delivery", flow_run_name="Delivery · order {order_id}")
def delivery_flow(order_id: int) -> str:
    return package_order(order_id)


if __name__ == "__main__":
    import sys

    print(delivery_flow(int(sys.argv[1])))
