"""QC blames the stage that introduced a defect: each stage's output against its input, in line order; the reason
says what that stage changed."""

from __future__ import annotations

import re

import pytest

from record import work
from record.db import transaction
from record.models import QC_GATE, EventKind, WorkStatus
from tests.conftest import sample

FRAMES = ("canon_powershot_g2_b.crw", "nikon_d1.nef")     # real camera files: well exposed once graded

# Grading, then a fine-retouch stage whose dodge & burn is set to burn almost everything (pivot near black, full
# strength): the photos leave grading well exposed (mean level 40% and 31%, nothing clipped) and come out of fine
# retouch dark, their shadows crushed (mean level 11% and 7%, 22% and 10% clipped).
DARKENING_LINE = """
[[stages]]
key = "cull_grade"
title = "Cull & grade"
operation = "grade"

[[stages]]
key = "liquify_skin"
title = "Liquify & skin"
operation = "skin"

[[stages]]
key = "fine_retouch"
title = "Fine retouch & colour"
operation = "dodge_burn"
[stages.params]
strength = 1.0
pivot = 0.01
radius_fraction = 0.3

[[stages]]
key = "design_layout"
title = "Design & layout"
operation = "finish"
"""


def test_a_stage_after_grading_that_darkens_a_photo_is_blamed_not_grading(prefect_api, home, line_file, tmp_path,
                                                                             monkeypatch):
    from flows.order import order_flow
    from surfaces.actions.orders import create_order
    from tasks.deliver import NothingDelivered

    line_file(DARKENING_LINE)
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    card = tmp_path / "card"
    card.mkdir()
    for name in FRAMES:
        (card / name).write_bytes(sample(name).read_bytes())
    order = create_order(client="Burned", shoot="portrait", card=card, preset_name=None, due=None)
    with pytest.raises(NothingDelivered):            # still dark after its rework round: held for a person
        order_flow(order.id)
    with transaction() as session:
        rejections = [e for e in work.events(session, order.id) if e.stage == QC_GATE and e.kind is EventKind.REJECTED]
        reworked = {(i.stage, i.round) for i in work.items_in(session, order.id, "fine_retouch", WorkStatus.SUBMITTED)}
    assert len(rejections) == 2 * len(FRAMES)         # the first pass and the rework round, each photo
    assert {e.blamed_stage for e in rejections} == {"fine_retouch"}
    assert reworked == {("fine_retouch", 1), ("fine_retouch", 2)}     # sent back there, not to grading
    for event in rejections:
        assert "clipping" in event.reason and "Fine retouch & colour made it so: mean level" in event.reason
        before, after = (float(x) for x in re.search(r"mean level ([\d.]+)% -> ([\d.]+)%", event.reason).groups())
        assert before > 25 and after < before / 2, event.reason
