"""Colour accuracy on real ColorChecker shots, side by side: postline's neutral preset, postline with
session calibration, darktable-cli's default and rawtherapee-cli's default.

Every contender renders the RAW to an 8-bit sRGB JPEG; each JPEG is read back, the chart is found in
it with the same detector (cv2.mcc), the 24 patch interiors are sampled (median) and compared with the
published reference (X-Rite, November 2014 and newer, D50, Bradford-adapted to D65) in CIEDE2000.

Exposure is the photographer's choice, not a colour error, so the headline figures first scale each
render's linear values by one gain that matches the grey patches' luminance (neutral 8 .. 3.5);
the figures without that gain are printed too ("as rendered").

Calibration is honest about where it was fitted: "in-sample" fits and evaluates on the same frame;
"leave-one-out" fits on 23 patches and predicts the 24th, for each patch in turn; "cross-frame" fits
on canon_powershot_g2.crw and evaluates on canon_powershot_g2_b.crw (same camera and light, a second
frame that shows 12 of the patches; corners stored below).

    python bench/color.py [--keep DIR]

The last line printed is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

# Run as a script, this folder would shadow the standard library's `queue` (thread pools import it):
# put the repo root first instead.
sys.path[0] = str(Path(__file__).resolve().parents[1])

from bench.common import SAMPLES, Peers, ensure_peers, read_srgb_as_working, render_postline  # noqa: E402
from tasks.pixels import calibrate as cal  # noqa: E402
from tasks.pixels import colourchecker as chart  # noqa: E402
from tasks.pixels.colour import delta_e, to_lab  # noqa: E402

FILES = ("canon_powershot_g2.crw", "canon_powershot_s40_b.crw")
CROSS_FIT, CROSS_EVAL = "canon_powershot_g2.crw", "canon_powershot_g2_b.crw"
# canon_powershot_g2_b.crw shows rows 2-4, columns 1-4 of the chart whole (orange .. purple, blue ..
# yellow, white .. neutral 5). Outer corners of that block in the full-size decode (2312x1720), read
# off a rendering: orange (above the frame), purple, neutral 5, white.
CROSS_CORNERS = [(294, -56), (2124, -56), (2136, 1300), (296, 1320)]
CROSS_PATCHES = [r * 6 + c for r in (1, 2, 3) for c in range(4)]


def summary(measured: np.ndarray, patches: list[int] | None = None) -> dict:
    """Mean and max CIEDE2000 of measured patches against the reference, exposure matched and as rendered."""
    de = chart.patch_delta_e(measured, patches=patches)
    de_asis = chart.patch_delta_e(measured, patches=patches, normalise_exposure=False)
    return {"mean": round(float(de.mean()), 2), "max": round(float(de.max()), 2),
            "mean_as_rendered": round(float(de_asis.mean()), 2), "max_as_rendered": round(float(de_asis.max()), 2)}


def measure_render(jpeg: Path, fallback: np.ndarray | None, fallback_size: tuple[int, int] | None):
    """(24x3 linear Rec.2020 patch medians, how the patches were found, image size) of a rendered JPEG."""
    image = read_srgb_as_working(jpeg)
    h, w = image.shape[:2]
    quads = chart.detect_chart(image)
    how = "detected"
    if quads is None:
        if fallback is None:
            raise SystemExit(f"no chart found in {jpeg} and nothing to map from")
        fh, fw = fallback_size
        quads = fallback - [(fw - w) / 2, (fh - h) / 2]          # same geometry; a centred crop
        how = f"mapped from postline's detection ({fw}x{fh} -> {w}x{h}, centred crop assumed)"
    return chart.sample_patches(image, quads), how, (w, h)


FITS = {cal.CalibrationModel.ROOT_POLYNOMIAL: cal.fit_root_polynomial, cal.CalibrationModel.MATRIX: cal.fit_matrix}


def leave_one_out(measured: np.ndarray, model: cal.CalibrationModel) -> np.ndarray:
    """Fit on 23 patches, predict the 24th (decoded linear measurements, exposure in the matrix)."""
    reference = chart.reference()
    out = np.empty(chart.PATCHES)
    for i in range(chart.PATCHES):
        use = measured.max(axis=1) < cal.CLIPPED
        use[i] = False
        matrix = FITS[model](measured, use=use)
        predicted = np.maximum(cal.transform(measured[i:i + 1], matrix), 1e-9)
        out[i] = delta_e(to_lab(reference[i:i + 1]), to_lab(predicted))[0]
    return out


def neutral_decode(path: Path) -> np.ndarray:
    from presets.model import load_preset
    from tasks.pixels.decode import decode
    return decode(path, load_preset("neutral").decode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", type=Path, help="keep the rendered JPEGs in this folder")
    args = parser.parse_args()
    versions = ensure_peers()
    work = args.keep or Path(tempfile.mkdtemp(prefix="postline-color-"))
    work.mkdir(parents=True, exist_ok=True)
    peers = Peers(work / "peers-home")
    results: dict[str, dict] = {}
    matrices: dict[str, np.ndarray] = {}
    print(f"peers: {versions['darktable']}; {versions['rawtherapee']}")
    for name in FILES:
        src = SAMPLES / name
        row: dict[str, dict] = {}
        neutral_jpeg = render_postline(src, "neutral", work / "postline-neutral" / f"{src.stem}.jpg")
        measured, how, size = measure_render(neutral_jpeg, None, None)
        base_image = read_srgb_as_working(neutral_jpeg)
        base_quads, base_size = chart.detect_chart(base_image), base_image.shape[:2]
        row["neutral"] = {**summary(measured), "chart": how, "size": size}

        decoded = neutral_decode(src)
        result = cal.calibrate(decoded, src)
        matrices[name] = result.array()
        matrices[name, "3x3"] = cal.calibrate(decoded, src, model=cal.CalibrationModel.MATRIX).array()
        cal_jpeg = render_postline(src, "neutral", work / "postline-calibrated" / f"{src.stem}.jpg",
                                   calibration=result.array())
        measured, how, size = measure_render(cal_jpeg, base_quads, base_size)
        decoded_patches = chart.sample_patches(decoded, chart.detect_chart(decoded))
        loo = leave_one_out(decoded_patches, result.model)
        loo3 = leave_one_out(decoded_patches, cal.CalibrationModel.MATRIX)
        jpeg3 = render_postline(src, "neutral", work / "postline-calibrated-3x3" / f"{src.stem}.jpg",
                                calibration=matrices[name, "3x3"])
        measured3, how3, _ = measure_render(jpeg3, base_quads, base_size)
        row["calibrated_in_sample"] = {**summary(measured),
                                       "chart": how, "size": size,
                                       "fit": f"in-sample: {result.model.value} fitted on this frame"}
        row["calibrated_3x3_in_sample"] = {**summary(measured3),
                                           "chart": how3, "size": size, "fit": "in-sample: 3x3 fitted on this frame"}
        row["calibrated_leave_one_out"] = {"mean": round(float(loo.mean()), 2), "max": round(float(loo.max()), 2),
                                           "fit": "each patch predicted by a fit on the other 23 (decoded linear)"}
        row["calibrated_3x3_leave_one_out"] = {"mean": round(float(loo3.mean()), 2), "max": round(float(loo3.max()), 2),
                                               "fit": "3x3: each patch predicted by a fit on the other 23 "
                                                      "(decoded linear)"}

        for label, render in (("darktable", lambda: peers.darktable([src], work / "darktable")[0]),
                              ("rawtherapee", lambda: peers.rawtherapee([src], work / "rawtherapee")[0]),
                              ("rawtherapee_d", lambda: peers.rawtherapee([src], work / "rawtherapee-d",
                                                                          default_profile=True)[0])):
            measured, how, size = measure_render(render(), base_quads, base_size)
            row[label] = {**summary(measured),
                          "chart": how, "size": size}
        results[name] = row

    # cross-frame: the G2 calibration applied to another G2 frame of the same session
    src = SAMPLES / CROSS_EVAL
    quads = chart.quads_from_corners(CROSS_CORNERS, rows=3, columns=4)
    cross = {}
    for label, matrix in (("neutral", None), ("calibrated_cross_frame", matrices[CROSS_FIT]),
                          ("calibrated_3x3_cross_frame", matrices[CROSS_FIT, "3x3"])):
        jpeg = render_postline(src, "neutral", work / f"cross-{label}" / f"{src.stem}.jpg", calibration=matrix)
        image = read_srgb_as_working(jpeg)
        measured = chart.sample_patches(image, quads)
        cross[label] = summary(measured, CROSS_PATCHES)
    cross["patches"] = [p + 1 for p in CROSS_PATCHES]
    cross["fit"] = f"matrix fitted on {CROSS_FIT}, evaluated on {CROSS_EVAL} (12 patches, stored corners)"

    contenders = ("neutral", "calibrated_in_sample", "calibrated_3x3_in_sample", "darktable", "rawtherapee",
                  "rawtherapee_d")
    print(f"\nCIEDE2000 of the 24 patches vs the published reference, exposure matched on the greys "
          f"(as rendered in brackets); renders in {work}")
    print(f"{'':28s}" + "".join(f"{n:>30s}" for n in FILES))
    for c in contenders + ("calibrated_leave_one_out", "calibrated_3x3_leave_one_out"):
        cells = []
        for name in FILES:
            r = results[name][c]
            extra = f" [{r['mean_as_rendered']:.2f}/{r['max_as_rendered']:.2f}]" if "mean_as_rendered" in r else ""
            cells.append(f"{r['mean']:.2f}/{r['max']:.2f}{extra}")
        print(f"{c:28s}" + "".join(f"{cell:>30s}" for cell in cells))
    print(f"{'(mean/max)':28s}")
    print(f"cross-frame on {CROSS_EVAL}, patches {cross['patches']}: neutral {cross['neutral']['mean']:.2f}/"
          f"{cross['neutral']['max']:.2f}, with the {CROSS_FIT} calibration "
          f"{cross['calibrated_cross_frame']['mean']:.2f}/{cross['calibrated_cross_frame']['max']:.2f} "
          f"(3x3: {cross['calibrated_3x3_cross_frame']['mean']:.2f}/{cross['calibrated_3x3_cross_frame']['max']:.2f})")
    print(f"calibration model: {cal.CalibrationModel.ROOT_POLYNOMIAL.value} (the default); calibrated_3x3_*: the 3x3 "
          "matrix, for comparison")
    print("darktable: darktable-cli default (scene-referred workflow); rawtherapee: rawtherapee-cli without a "
          "profile (its neutral values); rawtherapee_d: rawtherapee-cli -d (the GUI's default raw profile)")
    for name in FILES:
        for c in contenders:
            if results[name][c].get("chart") != "detected":
                print(f"note: {name} {c}: {results[name][c]['chart']}")

    def mean_of(c, key="mean"):
        return round(float(np.mean([results[n][c][key] for n in FILES])), 2)

    def max_of(c, key="max"):
        return round(float(np.max([results[n][c][key] for n in FILES])), 2)

    final = {
        "files": list(FILES), "exposure": "matched on grey patches 20-23 (as_rendered_* without)",
        "calibration_fit": "in-sample (fitted on the same frame); see *_loo_* and cross_frame for held-out",
        "neutral_mean_de": mean_of("neutral"), "neutral_max_de": max_of("neutral"),
        "calibrated_mean_de": mean_of("calibrated_in_sample"), "calibrated_max_de": max_of("calibrated_in_sample"),
        "calibrated_loo_mean_de": mean_of("calibrated_leave_one_out"),
        "calibrated_loo_max_de": max_of("calibrated_leave_one_out"),
        "calibrated_cross_frame_mean_de": cross["calibrated_cross_frame"]["mean"],
        "calibration_model": cal.CalibrationModel.ROOT_POLYNOMIAL.value,
        "calibrated_3x3_mean_de": mean_of("calibrated_3x3_in_sample"),
        "calibrated_3x3_loo_mean_de": mean_of("calibrated_3x3_leave_one_out"),
        "calibrated_3x3_cross_frame_mean_de": cross["calibrated_3x3_cross_frame"]["mean"],
        "neutral_cross_frame_mean_de": cross["neutral"]["mean"],
        "darktable_mean_de": mean_of("darktable"), "darktable_max_de": max_of("darktable"),
        "rawtherapee_mean_de": mean_of("rawtherapee"), "rawtherapee_max_de": max_of("rawtherapee"),
        "rawtherapee_d_mean_de": mean_of("rawtherapee_d"), "rawtherapee_d_max_de": max_of("rawtherapee_d"),
        "as_rendered_mean_de": {c: mean_of(c, "mean_as_rendered") for c in contenders},
        "per_file": results, "cross_frame": cross, "peers": versions,
    }
    print(json.dumps(final, separators=(",", ":")))


if __name__ == "__main__":
    main()
