"""Reminders to clients whose selection is overdue (scheduled daily in prefect.yaml): their gallery link is
e-mailed again (tasks/reminders.py)."""

from prefect import flow

from tasks.reminders import remind_overdue_selections


@flow(name="client-reminders", flow_run_name="Remind clients of overdue selections")
def client_reminders_flow() -> int:
    return remind_overdue_selections()


if __name__ == "__main__":
    print(client_reminders_flow())
