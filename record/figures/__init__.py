"""The ops manager's figures, aggregated in SQL over the stage events (SQLite and PostgreSQL, same numbers).

- scope.py: a period and filters (stage, retoucher, shoot, preset, client) as SQL conditions;
- sql.py: the few expressions the two databases spell differently, and median/p90 from ordered rows;
- stages.py: per stage, photos and passes, WIP, throughput, queue wait and touch time, rework, first-pass yield;
- quality.py: rework by stage blamed and by reason, rolled yield per order;
- people.py: per retoucher, output per day worked, first-pass yield, trend on an earlier period;
- orders.py: turnaround in working days, revision rounds, the Little's-law forecast, per shoot/client;
- report.py: all of it for one period (:func:`report.build_report`); views.py: its tables, for every presentation.

Python only puts aggregated rows together; no function here loads events one by one.
"""
