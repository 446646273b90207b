"""The family of renderers: each draws any plan's timeline (the motion model and the recording are shared), in a
look of its own. ``articulated`` is the project's first drawing; ``silhouette`` fills the body as one clothed shape
half under a blanket (``silhouette.py``); ``photo`` textures that shape with patches of real photographs
(``photo.py``); ``shaded`` lifts the pose into three dimensions and films it through a perspective camera, with lit,
rounded limbs and soft shadows (``shaded.py``); ``splat`` draws a soft body whose print moves with it, on cloths of
natural-image noise, in uneven light (``splat.py``).

``implicit`` (``implicit.py``) draws the body as one smooth surface around the bones, shaded from its own normals.
It stands apart from the family (``UNSEEN``): no backbone this project ships is pretrained on it, so the shipped
backbone can always be measured on a drawing it never saw. A backbone pretrained on it loses that check, which then
needs a new renderer."""

from __future__ import annotations

from spasmscope.errors import SettingError
from spasmscope.synth.implicit import ImplicitScene
from spasmscope.synth.photo import PhotoScene
from spasmscope.synth.render import Scene
from spasmscope.synth.shaded import ShadedScene
from spasmscope.synth.silhouette import SilhouetteScene
from spasmscope.synth.splat import SplatScene

RENDERERS: tuple[type[Scene], ...] = (Scene, SilhouetteScene, PhotoScene, ShadedScene, SplatScene)
NAMES = tuple(r.name for r in RENDERERS)
# Renderers kept out of every shipped backbone's pretraining: cohorts drawn by them test a drawing never seen.
UNSEEN: tuple[type[Scene], ...] = (ImplicitScene,)
ALL_NAMES = NAMES + tuple(r.name for r in UNSEEN)


def renderer(name: str) -> type[Scene]:
    """The renderer called ``name``; a ``SettingError`` naming the known ones otherwise."""
    for r in RENDERERS + UNSEEN:
        if r.name == name:
            return r
    raise SettingError(f"renderer={name!r}", f"use one of {', '.join(ALL_NAMES)}")
