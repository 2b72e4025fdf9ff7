"""`postline preset ...`: for the people who keep the look library.

    postline preset list                         every preset with its description
    postline preset show NAME [--set KEY=VALUE]  the resolved values (after extends and overrides)
    postline preset check FILE...                validate preset files (and their LUTs)
    postline preset import XMP [-o OUT.toml]     a Lightroom/ACR preset to TOML, with what was not mapped
    postline preset render RAW -p NAME [-o OUT.jpg] [--preview] [--set KEY=VALUE]
"""

from __future__ import annotations

import argparse
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

from surfaces.terminal import shown, shown_lines

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def parse_overrides(items: list[str] | None) -> dict[str, Any]:
    """["tone.exposure_ev=0.3", 'output.colour_space="display_p3"'] -> {key: value}; values are TOML
    (bare words are taken as strings)."""
    overrides: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set {item!r}: write KEY=VALUE, e.g. --set tone.exposure_ev=0.3")
        try:
            value = tomllib.loads(f"v = {text.strip()}")["v"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        overrides[key.strip()] = value
    return overrides


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    print(f"error: {shown(message)}", file=sys.stderr)
    return code


def cmd_list(args: argparse.Namespace) -> int:
    from presets.model import DEFAULT_FOR_SHOOT, PRESET_DIR, PresetError, load_preset

    defaults = {name: shoot for shoot, name in DEFAULT_FOR_SHOOT.items()}
    for name in sorted(p.stem for p in PRESET_DIR.glob("*.toml")):   # a file misnamed is listed as broken
        try:
            preset = load_preset(name)
        except PresetError as exc:
            print(f"{shown(name):18} BROKEN: {shown(exc)}")
            continue
        default = f" [default for {defaults[name]}]" if name in defaults else ""
        print(f"{name:18} v{preset.version}  {shown(preset.description)}{default}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    from presets.model import PresetError, resolve
    from presets.xmp import to_toml

    try:
        preset = resolve(args.name, parse_overrides(args.set))
    except (PresetError, ValueError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    print(f"# {preset.name} v{preset.version}, resolved; sha256 {preset.resolved_hash()}")
    print(shown_lines(to_toml(preset.model_dump(mode="json"))), end="")
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from presets.model import PRESET_DIR, PresetError, load_preset_file, lut_path
    from tasks.pixels.lut import LutError, read_cube

    failed = 0
    for file in args.files:
        try:
            preset = load_preset_file(Path(file))
            if Path(file).resolve().parent == PRESET_DIR.resolve() and preset.name != Path(file).stem:
                raise PresetError(f"{file}: 'name' is {preset.name!r} but the file is {Path(file).stem}.toml; make "
                                  "them match (the library finds a preset by its file's name)")
            if preset.lut.file:
                try:
                    read_cube(lut_path(preset.lut.file))
                except LutError as exc:
                    raise LutError(f"{file}: 'lut.file' = {preset.lut.file!r}: {exc}") from None
        except (PresetError, LutError) as exc:
            failed += 1
            print(f"FAIL {shown(exc)}")
            continue
        print(f"ok   {shown(file)}: {preset.name} v{preset.version} (sha256 {preset.resolved_hash()[:12]})")
    return EXIT_FAILED if failed else EXIT_OK


def cmd_import(args: argparse.Namespace) -> int:
    from presets.model import PresetError
    from presets.xmp import import_xmp, to_toml

    try:
        result = import_xmp(Path(args.xmp), name=args.name)
    except PresetError as exc:
        return _fail(str(exc))
    out = Path(args.output) if args.output else Path(f"{result.name}.toml")
    if out.exists() and not args.force:
        return _fail(f"{out} exists; give another --output or --force to replace it", EXIT_USAGE)
    out.write_text(to_toml(result.data), encoding="utf-8")
    for line in result.report_lines():
        print(shown(line))
    print(f"Wrote {shown(out)}. Check it with `postline preset check {shown(out)}`; copy it into presets/ to use it.")
    return EXIT_OK


def cmd_render(args: argparse.Namespace) -> int:
    from presets.model import PresetError, resolve
    from config.errors import PostlineError
    from tasks.pixels.render import JPEG_SUFFIXES, TIFF_SUFFIXES, render

    source = Path(args.raw)
    try:
        preset = resolve(args.preset, parse_overrides(args.set))
    except (PresetError, ValueError) as exc:
        return _fail(str(exc), EXIT_USAGE)
    out = Path(args.output) if args.output else source.with_name(
        f"{source.stem}.{preset.name}{'.preview' if args.preview else ''}.jpg")
    if not source.is_file():
        return _fail(f"{source}: no such file", EXIT_USAGE)
    if out.suffix.lower() not in JPEG_SUFFIXES | TIFF_SUFFIXES:
        return _fail(f"-o {out.name}: render writes .jpg or .tif files", EXIT_USAGE)
    start = time.perf_counter()
    try:
        render(source, out, preset, preview=args.preview)
    except (PostlineError, ValueError) as exc:
        return _fail(str(exc))
    print(f"{shown(out)} ({preset.name} v{preset.version}, {preset.output.colour_space.value}, "
          f"{time.perf_counter() - start:.2f} s)")
    return EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    """Add `preset` and its actions to the `postline` parser's subcommands."""
    preset = sub.add_parser("preset", help="the grading look library: list, show, check, import, render")
    actions = preset.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser("list", help="every preset with its description").set_defaults(func=cmd_list)

    show = actions.add_parser("show", help="a preset's resolved values (extends and overrides applied)")
    show.add_argument("name")
    show.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one value, e.g. tone.exposure_ev=0.3")
    show.set_defaults(func=cmd_show)

    check = actions.add_parser("check", help="validate preset files; errors name the file, key and range")
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=cmd_check)

    imp = actions.add_parser("import", help="convert a Lightroom/ACR .xmp develop preset to TOML")
    imp.add_argument("xmp")
    imp.add_argument("-o", "--output", help="TOML file to write (default: NAME.toml here)")
    imp.add_argument("--name", help="preset name (default: from the XMP's name)")
    imp.add_argument("--force", action="store_true", help="replace the output file if it exists")
    imp.set_defaults(func=cmd_import)

    render = actions.add_parser("render", help="render a RAW with a preset to JPEG (or .tif: 16-bit TIFF)")
    render.add_argument("raw")
    render.add_argument("-p", "--preset", required=True)
    render.add_argument("-o", "--output", help="output .jpg or .tif (default: beside the RAW)")
    render.add_argument("--preview", action="store_true", help="half-size decode: about 4x faster")
    render.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one preset value")
    render.set_defaults(func=cmd_render)
