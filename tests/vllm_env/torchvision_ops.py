"""Lets PyPI's torchvision import beside the CPU build of torch, for image-only use.

That torchvision's compiled ops link CUDA libraries, so its operator library never loads and
its Python side fails on `torchvision::nms` not existing. Declaring the two operators it
registers Python implementations for is enough for the image processors that vLLM and
transformers use; calling them would still fail, and nothing here does.
"""

import torch

_LIBRARY = torch.library.Library("torchvision", "DEF")
_LIBRARY.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
_LIBRARY.define("qnms(Tensor qdets, Tensor qscores, float iou_threshold) -> Tensor")
