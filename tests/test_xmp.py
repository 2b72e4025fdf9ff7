"""Importing a Lightroom/ACR develop preset (tests/data/lr-golden-hour.xmp, written for these tests
in Adobe's format) into postline's TOML form."""

from pathlib import Path

import pytest

from presets.model import PresetError, WhiteBalance, load_preset_file
from presets.xmp import import_xmp, to_toml

SAMPLE = Path(__file__).parent / "data" / "lr-golden-hour.xmp"


@pytest.fixture(scope="module")
def imported():
    return import_xmp(SAMPLE)


def test_basic_panel_white_balance_and_colour_map_onto_the_preset(imported, tmp_path):
    path = tmp_path / f"{imported.name}.toml"
    path.write_text(to_toml(imported.data))
    preset = load_preset_file(path)
    assert preset.name == "golden-hour-wedding"
    assert (preset.tone.exposure_ev, preset.tone.contrast, preset.tone.highlights) == (0.35, -12, -45)
    assert (preset.tone.shadows, preset.tone.whites, preset.tone.blacks) == (30, 12, -8)
    assert (preset.tone.vibrance, preset.tone.saturation) == (18, -6)
    assert preset.decode.white_balance is WhiteBalance.KELVIN and preset.decode.kelvin == 5900 and preset.decode.tint == 8
    assert preset.hsl.green.hue == -35 and preset.hsl.blue.saturation == -25 and preset.hsl.orange.luminance == 10
    assert preset.split_tone.highlight_hue == 42 and preset.split_tone.balance == 15
    assert preset.curve.master[0] == pytest.approx((0.0, 18 / 255), abs=1e-4)
    assert preset.curve.red == ((0.0, 0.0), (1.0, 1.0))                       # identity curve left alone
    assert preset.vignette.amount == -14 and preset.sharpen.amount == 40


def test_report_lists_what_was_not_mapped_and_skips_housekeeping(imported):
    unmapped = {line.split(" =")[0] for line in imported.unmapped}
    assert {"crs:Clarity2012", "crs:Texture", "crs:GrainAmount"} <= unmapped
    assert "crs:Dehaze" not in unmapped                                       # at zero: changes nothing
    assert not unmapped & {"crs:UUID", "crs:Version", "crs:ProcessVersion", "crs:Name"}
    report = imported.report()
    assert "crs:Clarity2012 = +15" in report and "Not mapped (" in report


def test_out_of_range_values_are_clamped_and_reported(tmp_path):
    xmp = tmp_path / "hot.xmp"
    xmp.write_text(SAMPLE.read_text().replace('crs:Temperature="5900"', 'crs:Temperature="50000"'))
    result = import_xmp(xmp, name="hot")
    assert result.data["decode"]["kelvin"] == 12000
    assert any("crs:Temperature = 50000" in line and "12000" in line for line in result.clamped)


def test_not_an_xmp_names_the_file(tmp_path):
    bad = tmp_path / "notes.xmp"
    bad.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'><oops></x:xmpmeta>")
    with pytest.raises(PresetError, match="notes.xmp: not a readable XMP"):
        import_xmp(bad)
    empty = tmp_path / "empty.xmp"
    empty.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    with pytest.raises(PresetError, match="empty.xmp: no Camera Raw"):
        import_xmp(empty)


COLOUR_GRADING = '''<x:xmpmeta xmlns:x="adobe:ns:meta/">
 <rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
  <rdf:Description rdf:about="" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/"
   crs:Version="15.0" crs:ProcessVersion="15.4" crs:Exposure2012="+0.20"
   {grading}
   crs:ColorGradeMidtoneHue="{midtone_hue}" crs:ColorGradeMidtoneSat="{midtone_sat}"
   crs:ColorGradeShadowLum="0" crs:ColorGradeHighlightLum="0" crs:ColorGradeBlending="50"
   crs:ColorGradeGlobalHue="0" crs:ColorGradeGlobalSat="0" crs:ColorGradeGlobalLum="0"
   crs:GrainSize="25" crs:GrainFrequency="50" crs:SharpenDetail="25"/>
 </rdf:RDF>
</x:xmpmeta>'''


def test_colour_grading_shadows_and_highlights_map_and_defaults_are_not_reported(tmp_path):
    """Lightroom 10+ keeps colour grading's shadows and highlights in SplitToning*; other tools write
    ColorGradeShadowHue etc. Either maps onto split toning; the wheels postline has no match for (midtones)
    are reported; sliders at Lightroom's defaults (blending 50, grain size 25 ...) are not."""
    lightroom = tmp_path / "lightroom.xmp"
    lightroom.write_text(COLOUR_GRADING.format(
        grading='crs:SplitToningShadowHue="210" crs:SplitToningShadowSaturation="15" '
                'crs:SplitToningHighlightHue="45" crs:SplitToningHighlightSaturation="20" crs:SplitToningBalance="-10"',
        midtone_hue="40", midtone_sat="8"))
    other_tool = tmp_path / "other.xmp"
    other_tool.write_text(COLOUR_GRADING.format(
        grading='crs:ColorGradeShadowHue="210" crs:ColorGradeShadowSat="15" crs:ColorGradeHighlightHue="45" '
                'crs:ColorGradeHighlightSat="20" crs:ColorGradeBalance="-10"',
        midtone_hue="0", midtone_sat="0"))
    for path in (lightroom, other_tool):
        result = import_xmp(path)
        split = result.data["split_tone"]
        assert (split["shadow_hue"], split["shadow_saturation"]) == (210, 15)
        assert (split["highlight_hue"], split["highlight_saturation"], split["balance"]) == (45, 20, -10)
    assert import_xmp(other_tool).unmapped == []       # every other setting is at Lightroom's default
    assert sorted(import_xmp(lightroom).unmapped) == ["crs:ColorGradeMidtoneHue = 40", "crs:ColorGradeMidtoneSat = 8"]
    both = tmp_path / "both.xmp"                        # both names, disagreeing: SplitToning* wins, said so
    both.write_text(COLOUR_GRADING.format(grading='crs:SplitToningShadowHue="210" crs:ColorGradeShadowHue="180"',
                                          midtone_hue="0", midtone_sat="0"))
    result = import_xmp(both)
    assert result.data["split_tone"]["shadow_hue"] == 210
    assert result.unmapped == ["crs:ColorGradeShadowHue = 180 (crs:SplitToningShadowHue = 210 was used)"]
