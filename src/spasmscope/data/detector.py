"""A person detector the user supplies as a local ``.onnx`` file, as a localiser (``localise.Localiser``): a
YOLO-style network, run by onnxruntime on each window's middle frame; the best person box is the infant, and its
confidence the visibility. Nothing is downloaded: the file is the user's (``screen --detector FILE``).

Boxes are ``(x, y, w, h)`` in pixels of the frames given (upright); the crop around a box is ``localise``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from spasmscope.data.localise import Box, Localisation, LocaliseConfig, crop_around, remembered
from spasmscope.errors import InputError


@dataclass(frozen=True)
class Detection:
    box: tuple[float, float, float, float]  # x, y, w, h in pixels of the frame given
    score: float
    cls: int


def decode_yolo(output: np.ndarray, conf: float = 0.25, iou: float = 0.45, classes: tuple[int, ...] = (0,)) -> list[Detection]:
    """Decode one image's YOLO output into boxes in the network's input pixels, best first, after NMS.

    Layouts, told apart by which axis is longer: YOLOv8/v11 ``[4 + C, N]`` (cx, cy, w, h, class scores) and
    YOLOv5 ``[N, 5 + C]`` (cx, cy, w, h, objectness, class scores); a leading batch axis of 1 is dropped.
    """
    out = np.asarray(output, dtype=np.float32)
    if out.ndim == 3:
        out = out[0]
    if out.ndim != 2:
        raise ValueError(f"YOLO output of shape {output.shape}; expected [1, 4 + classes, boxes] or [1, boxes, 5 + classes]")
    if out.shape[0] < out.shape[1]:  # v8: channels first, no objectness
        rows = out.T
        boxes, scores = rows[:, :4], rows[:, 4:]
    else:  # v5: objectness times class score
        boxes, scores = out[:, :4], out[:, 5:] * out[:, 4:5]
    keep_classes = [c for c in classes if c < scores.shape[1]]
    if not keep_classes:
        return []
    sub = scores[:, keep_classes]
    best, cls = sub.max(axis=1), np.asarray(keep_classes)[sub.argmax(axis=1)]
    sel = np.flatnonzero(best >= conf)
    xywh = [(float(b[0] - b[2] / 2), float(b[1] - b[3] / 2), float(b[2]), float(b[3])) for b in boxes[sel]]
    kept = cv2.dnn.NMSBoxes(xywh, best[sel].tolist(), conf, iou) if len(sel) else []
    dets = [Detection(xywh[i], float(best[sel][i]), int(cls[sel][i])) for i in np.asarray(kept).reshape(-1)]
    return sorted(dets, key=lambda d: -d.score)


def letterbox(frame: np.ndarray, size: int) -> tuple[np.ndarray, float, tuple[int, int]]:
    """``[H, W, 3] uint8`` -> ``[size, size, 3]`` keeping the aspect ratio (grey 114 padding, as YOLO exports
    expect); returns the image, the scale and the (x, y) padding to map boxes back."""
    h, w = frame.shape[:2]
    scale = min(size / w, size / h)
    nw, nh = int(round(w * scale)), int(round(h * scale))
    out = np.full((size, size, 3), 114, dtype=np.uint8)
    px, py = (size - nw) // 2, (size - nh) // 2
    out[py : py + nh, px : px + nw] = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_AREA)
    return out, scale, (px, py)


class OnnxDetector:
    """A YOLO-style ONNX detector from a local file (no download), run with onnxruntime on the CPU. The best box
    of ``classes`` (COCO person: 0) in the window's middle frame is the infant; its score is the visibility.
    Boxes are smoothed over windows so one missed frame does not throw the crop away."""

    def __init__(self, path: str | Path, cfg: LocaliseConfig = LocaliseConfig(), conf: float = 0.25, classes: tuple[int, ...] = (0,), smooth: float = 0.5):
        try:
            import onnxruntime as ort
        except ImportError:
            raise InputError(path, "the ONNX detector needs onnxruntime", "pip install 'spasmscope[onnx]', or use --crop auto") from None
        path = Path(path)
        if not path.is_file():
            raise InputError(path, "ONNX detector file not found", "give the path of a local .onnx file")
        try:
            self.session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for a bad file
            raise InputError(path, f"is not a loadable ONNX model ({str(e).splitlines()[0][:120]})", "export the detector to ONNX again") from None
        shape = self.session.get_inputs()[0].shape
        self.size = int(shape[-1]) if isinstance(shape[-1], int) else 640
        self.input = self.session.get_inputs()[0].name
        self.cfg, self.conf, self.classes, self.smooth = cfg, conf, classes, smooth
        self.last: np.ndarray | None = None

    def detect(self, frame: np.ndarray) -> list[Detection]:
        """Detections in ``frame`` (``[H, W, 3] uint8`` RGB), boxes in its pixels, best first."""
        image, scale, (px, py) = letterbox(frame, self.size)
        x = image.transpose(2, 0, 1)[None].astype(np.float32) / 255.0
        dets = decode_yolo(self.session.run(None, {self.input: x})[0], self.conf, classes=self.classes)
        return [Detection(((d.box[0] - px) / scale, (d.box[1] - py) / scale, d.box[2] / scale, d.box[3] / scale), d.score, d.cls) for d in dets]

    def frames_read(self, n_frames: int, fps: float) -> np.ndarray:
        return np.array([n_frames // 2])

    def memory(self) -> int:
        return remembered(self.smooth)

    def update(self, frames: np.ndarray, fps: float) -> Localisation:
        h, w = frames.shape[1:3]
        dets = self.detect(frames[len(frames) // 2])
        if not dets:
            return Localisation(crop=crop_around(None if self.last is None else _as_box(self.last), w, h, self.cfg), visibility=0.0)
        b = np.asarray(dets[0].box)
        self.last = b if self.last is None else self.smooth * self.last + (1 - self.smooth) * b
        box = _as_box(self.last)
        return Localisation(crop=crop_around(box, w, h, self.cfg), visibility=round(dets[0].score, 4), box=box)


def _as_box(b: np.ndarray) -> Box:
    return int(round(b[0])), int(round(b[1])), int(round(b[2])), int(round(b[3]))
