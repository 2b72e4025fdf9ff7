"""`postline report --html FILE` opened in headless Chromium with the network cut off: every chart is drawn
(Plotly's SVG is there, sized, with the bars and lines of its data), and the tables read as in the terminal."""

from __future__ import annotations

import pytest

from surfaces.cli import main
from tests.browser import chromium_page
from tests.eventlog import record_october

CHARTS = ("chart-rework-stage", "chart-rework-reason", "chart-throughput", "chart-turnaround", "chart-retouchers")

DRAWN = """(id) => {
  const el = document.getElementById(id);
  const svg = el && el.querySelector('svg.main-svg');
  if (!svg) return null;
  const box = svg.getBoundingClientRect();
  const marks = [...el.querySelectorAll('.barlayer .point path, .scatterlayer .js-line')]
    .filter(m => { const b = m.getBoundingClientRect(); return b.width > 0 || b.height > 0; });
  return {width: box.width, height: box.height, room: el.parentElement.getBoundingClientRect().width,
          traces: el.data.length,
          names: el.data.map(t => t.name), marks: marks.length};
}"""


@pytest.fixture
def html_report(home, tmp_path, monkeypatch):
    from config.line import get_line

    record_october(tmp_path, monkeypatch)
    path = tmp_path / "report.html"
    assert main(["report", "--since", "2025-10-01", "--until", "2026-10-31", "--html", str(path)]) == 0
    yield path
    get_line.cache_clear()


def test_every_chart_is_drawn_offline(html_report):
    requests, errors = [], []
    with chromium_page() as page:
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))

        def only_the_file(route):
            requests.append(route.request.url)
            return route.continue_() if route.request.url.startswith("file://") else route.abort()
        page.route("**/*", only_the_file)
        page.goto(html_report.as_uri())
        page.wait_for_function("(ids) => ids.every((id) => document.querySelector("                # each chart
                               "`#${id} .barlayer .point path, #${id} .scatterlayer .js-line`))",   # with its marks
                               arg=list(CHARTS))
        drawn = {chart: page.evaluate(DRAWN, chart) for chart in CHARTS}
        table = page.locator("table").first.inner_text()
    assert errors == [] and requests == [html_report.as_uri()]        # nothing fetched from a network
    for chart, found in drawn.items():
        assert found is not None, chart
        assert found["width"] > 300 and found["height"] > 200, (chart, found)
        assert found["width"] <= found["room"] + 1, (chart, found)       # drawn inside its place, not cut off
        assert found["traces"] >= 1 and found["marks"] >= 1, (chart, found)
    # By stage: grading and skin were blamed; by reason: the four codes; rita's output now and a year before.
    assert set(drawn["chart-rework-stage"]["names"]) == {"Cull & grade", "Liquify & skin"}
    assert set(drawn["chart-rework-reason"]["names"]) == {"clipped", "colour_cast", "look_lost", "over_smoothed_skin"}
    assert drawn["chart-turnaround"]["names"] == ["within the promise", "over the promise"]
    assert drawn["chart-retouchers"]["traces"] == 2
    assert "Liquify & skin" in table and "Cull & grade" in table


def test_the_page_holds_the_figures_and_escapes_names(html_report):
    page = html_report.read_text(encoding="utf-8")
    assert "Anna &amp; Ben" in page and "Anna & Ben" not in page.split("<body>")[1]
    assert "a rejection with several reasons counts once for its stage and once under each reason" in page
    assert "Review of originals, agreement with the suggested cull" in page


def test_an_unwritable_html_path_is_a_clear_error(home, tmp_path, capsys):
    assert main(["report", "--html", str(tmp_path / "no" / "such" / "folder" / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "r.html: cannot write the HTML report" in err and "No such file or directory" in err


def test_a_stacked_chart_with_an_empty_side_is_drawn():
    """Every delivered order within the promise leaves the turnaround chart's 'over the promise' bars empty: the
    page was not written (max() of nothing). A bar's height is its own traces' sum at its x."""
    import plotly.graph_objects as go

    from surfaces.cli.report_html import _layout

    empty_side = go.Figure([go.Bar(name="within", x=[0, 1], y=[3, 9]), go.Bar(name="over", x=[], y=[])])
    assert _layout(empty_side, "t", "x", "y", barmode="stack").layout.yaxis.dtick == 2          # top 9
    apart = go.Figure([go.Bar(x=[1], y=[30]), go.Bar(x=[2], y=[40])])                         # not 70 high
    assert _layout(apart, "t", "x", "y", barmode="stack").layout.yaxis.dtick == 8


def test_the_throughput_chart_has_a_point_for_a_day_nothing_was_finished():
    """Days with nothing finished were left out: the line joined 30 November to 2 December straight over the 1st."""
    from surfaces.cli.report_html import every_bucket

    assert every_bucket({"2026-11-30", "2026-12-02"}, "day") == ["2026-11-30", "2026-12-01", "2026-12-02"]
    assert every_bucket({"2026-11", "2027-02"}, "month") == ["2026-11", "2026-12", "2027-01", "2027-02"]
    assert every_bucket(set(), "day") == []
