"""What people do with postline, one function per use case, called alike by the command line and the web page.

Surfaces parse input and present output; an action decides (checks what was asked against the record, the
order's line and the files) and calls down: the record stores (``record``), QC judges (``qc``), the tasks'
helpers keep files and wake waiting runs (``tasks``). An action owns its transactions and raises only errors
of :mod:`config.errors`' tree, which each surface maps in one place (surfaces/cli/errors.py for exit codes,
surfaces/web_errors.py for HTTP statuses).

- :mod:`surfaces.actions.orders`: create an order, run (or resume) it, revise, move it to the current line,
  what it looks like now;
- :mod:`surfaces.actions.queue`: the stage queues: claim or pull the next photo, hand it back, release,
  extend, what a person holds;
- :mod:`surfaces.actions.gates`: a person's decision at a gate (the QC lead's, the senior photographer's);
- :mod:`surfaces.actions.people`: add people, set their skills and passwords;
- :mod:`surfaces.actions.delivery`: pack a delivered order again (with its own recipe), the archive's retention.
"""
