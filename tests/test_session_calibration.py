"""Session calibration in an order: the card holds a real ColorChecker shot; postline finds it, records the
fit with the order, and grades the session with it."""

from __future__ import annotations

import shutil

from record import work
from record.db import transaction
from tasks.pixels.calibrate import CalibrationResult
from tests.conftest import sample
from tests.flowkit import Delivery, run_order


def test_a_chart_on_the_card_calibrates_the_order(prefect_api, home, tmp_path, monkeypatch):
    monkeypatch.setenv("PREFECT_API_URL", prefect_api)
    card = tmp_path / "card"
    card.mkdir()
    shutil.copy(sample("canon_powershot_s40.crw"), card / "CRW_0119.CRW")      # no chart
    shutil.copy(sample("canon_powershot_g2.crw"), card / "CRW_0304.CRW")       # a real ColorChecker shot
    order_id, zip_path = run_order(card, client="Calibrated")

    with transaction() as session:
        order = work.get_order(session, order_id)
    result = CalibrationResult.model_validate_json(order.calibration_json)
    assert result.source == "CRW_0304.CRW" and result.patches_found == 24
    assert result.fit_mean_de < result.uncalibrated_mean_de
    assert Delivery(zip_path).delivered_sources() == {"CRW_0119.CRW", "CRW_0304.CRW"}
