"""Synthetic shoots, for the demo (``postline demo``), the tests and the benchmarks: a made-up camera's DNG files
(:mod:`~tasks.synthetic.dng`) of rendered scenes and a ColorChecker (:mod:`~tasks.synthetic.scenes`), gathered
into cards like a real shoot's (:mod:`~tasks.synthetic.shoots`). Nothing of the line imports it: it makes input for
the line, the way a camera does."""

from tasks.synthetic.dng import DngMeta, write_dng
from tasks.synthetic.scenes import chart_patch_boxes, colour_chart_linear_srgb, render_chart, render_scene
from tasks.synthetic.shoots import make_demo_shoot, write_card

__all__ = ["DngMeta", "chart_patch_boxes", "colour_chart_linear_srgb", "make_demo_shoot", "render_chart",
           "render_scene", "write_card", "write_dng"]
