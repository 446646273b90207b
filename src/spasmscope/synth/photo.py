"""The photo renderer: the silhouette renderer's body, blanket and sheet, textured with patches of real photographs.

Procedural textures all share the statistics of their generator; photographs do not. Every cloth here is a patch of
one of the photographs that ship inside scikit-image (``skimage.data``: bricks, grass, gravel, a coffee cup, a cat,
a rocket, stars, stained tissue, ...), cut at a random place and scale, turned, and tinted towards the cloth's
colour, so the textures a backbone sees in pretraining are not all drawn by this project.
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from spasmscope.synth.render import infrared
from spasmscope.synth.silhouette import SilhouetteScene

PHOTOS = ("astronaut", "brick", "camera", "chelsea", "coffee", "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon", "rocket", "text")


@functools.cache
def photo(name: str) -> np.ndarray:
    """One of scikit-image's bundled photographs as ``[H, W, 3] float32`` (0-255); read from the installed package,
    never downloaded."""
    from skimage import data

    image = getattr(data, name)()
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    return image[..., :3].astype(np.float32)


def photo_patch(rng: np.random.Generator, h: int, w: int, base: np.ndarray, strength: float) -> np.ndarray:
    """A ``[h, w, 3] float32`` texture: a patch of a random photograph at a random scale and quarter turn, its
    contrast kept and its mean colour pulled towards ``base`` by ``1 - strength``."""
    source = np.rot90(photo(PHOTOS[int(rng.integers(len(PHOTOS)))]), int(rng.integers(4)))
    sh, sw = source.shape[:2]
    side = int(min(sh, sw) * rng.uniform(0.25, 0.9))
    y, x = int(rng.integers(0, sh - side + 1)), int(rng.integers(0, sw - side + 1))
    patch = cv2.resize(np.ascontiguousarray(source[y : y + side, x : x + side]), (w, h), interpolation=cv2.INTER_LINEAR)
    grey = patch.mean(axis=2, keepdims=True)
    coloured = strength * patch + (1 - strength) * (grey / max(float(grey.mean()), 1.0)) * base[None, None, :]
    return np.clip(coloured, 0, 255)


class PhotoScene(SilhouetteScene):
    """The photo renderer (see the module docstring)."""

    name = "photo"

    def _fabric(self, rng: np.random.Generator, h: int, w: int, base: np.ndarray, ink: np.ndarray, period: float) -> np.ndarray:
        patch = photo_patch(rng, h, w, base, rng.uniform(0.3, 0.8))
        if self.rec.night:  # an infrared camera sees no colour (``infrared``)
            patch = infrared(patch) * float(np.mean(self.gain))
        return patch
