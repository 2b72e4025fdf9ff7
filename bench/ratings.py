"""What reading the photographer's ratings adds to ingest, side by side with the rest of ingest's work on the
same card file.

Contenders, on each photo, alternately, one photo at a time (warm: one untimed round first):
  ratings   tasks.ratings.read_rating: the sidecar looked for under its four names, opened as a card file and
            parsed, then the file's own XMP packet or EXIF rating read from the archived copy;
  ingest    the rest of ingest's work on the file (tasks/ingest.py, _examine and _cull_signals without the record):
            the archive copy with its SHA-256 (tasks.files.copy_with_checksum), the metadata and the decode check
            (read_metadata), the cull's signals (tasks.pixels.cull.measure).

Sets: 1 MP DNGs (a wedding's frames as bench/scale.py makes them: tasks.synthetic.render_scene), each with a
Lightroom sidecar, and 24 MP DNGs with one each. The ratings' cost does not grow with the picture; the rest does.

    python bench/ratings.py [--photos 40] [--big 2] [--rounds 3]

The last line printed is JSON; ``ratings_vs_ingest_1mp`` is the ratings' time over the rest's, per 1 MP photo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])   # the repo root, not bench/

from bench.common import median  # noqa: E402

SIDECAR = ('<x:xmpmeta xmlns:x="adobe:ns:meta/" x:xmptk="Adobe XMP Core 7.0"><rdf:RDF '
           'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description rdf:about="" '
           'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmlns:crs="http://ns.adobe.com/camera-raw-settings/1.0/" '
           'xmp:Rating="{stars}" xmp:Label="Green" crs:Exposure2012="+0.20" crs:Temperature="5200" '
           'crs:Tint="+4" crs:Highlights2012="-35" crs:Shadows2012="+22"/></rdf:RDF></x:xmpmeta>')


def make_card(card: Path, count: int, size: tuple[int, int], tag: str) -> list[str]:
    from tasks.synthetic import render_scene, write_dng
    from bench.scale import KINDS

    names = []
    for i in range(count):
        name = f"{tag}/IMG_{i + 1:04d}.dng"
        (card / name).parent.mkdir(parents=True, exist_ok=True)
        write_dng(card / name, render_scene(KINDS[i % len(KINDS)], *size, seed=700 + i))
        (card / name).with_suffix(".xmp").write_text(SIDECAR.format(stars=i % 6))
        names.append(name)
    return names


def ratings(card: Path, name: str, archive: Path) -> None:
    from tasks.ratings import read_rating

    read_rating(card, name, card / name)


def ingest_rest(card: Path, name: str, archive: Path) -> None:
    from tasks.files import copy_with_checksum
    from tasks.pixels import cull
    from tasks.pixels.metadata import read_metadata

    copy, _, _ = copy_with_checksum(card / name, archive)
    read_metadata(copy)
    cull.measure(copy)
    copy.chmod(0o644)
    copy.unlink()


def timed(card: Path, names: list[str], archive: Path, rounds: int) -> dict[str, list[float]]:
    """Seconds per photo for each contender, every photo once untimed, then ``rounds`` rounds, the contenders'
    order swapped each round."""
    contenders = {"ratings": ratings, "ingest": ingest_rest}
    out: dict[str, list[float]] = {k: [] for k in contenders}
    for r in range(rounds + 1):
        order = list(contenders) if r % 2 else list(reversed(contenders))
        for name in names:
            for key in order:
                start = time.perf_counter()
                contenders[key](card, name, archive)
                if r:
                    out[key].append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--photos", type=int, default=40, help="1 MP photos (default 40)")
    parser.add_argument("--big", type=int, default=2, help="24 MP photos (default 2; 0: none)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="postline-bench-ratings-"))
    try:
        card, archive = work / "card", work / "archive"
        archive.mkdir()
        result: dict = {"photos_1mp": args.photos, "photos_24mp": args.big, "rounds": args.rounds}
        for label, count, size in (("1mp", args.photos, (1200, 800)), ("24mp", args.big, (6000, 4000))):
            if not count:
                continue
            names = make_card(card, count, size, label)
            times = timed(card, names, archive, args.rounds)
            ms = {k: round(median(v) * 1000, 2) for k, v in times.items()}
            print(f"{label}: ratings {ms['ratings']} ms a photo, the rest of ingest {ms['ingest']} ms "
                  f"(medians over {count} photos x {args.rounds} rounds)")
            result[f"ratings_ms_{label}"] = ms["ratings"]
            result[f"ingest_rest_ms_{label}"] = ms["ingest"]
            result[f"ratings_vs_ingest_{label}"] = round(ms["ratings"] / ms["ingest"], 4)
        print(json.dumps(result))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
