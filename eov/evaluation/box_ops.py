"""Box geometry used by the metrics."""
from __future__ import annotations

import numpy as np


def box_iou(a, b) -> float:
    """IoU of two ``[x1, y1, x2, y2]`` boxes (0 when the union is empty)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def clip_box(box, width: float, height: float) -> list[float]:
    """Clamp a box to the image ``[0, W] x [0, H]``."""
    x1, y1, x2, y2 = box
    return [float(np.clip(x1, 0, width)), float(np.clip(y1, 0, height)),
            float(np.clip(x2, 0, width)), float(np.clip(y2, 0, height))]
