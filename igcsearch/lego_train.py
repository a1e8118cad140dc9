"""``igcsearch.lego_train``: the documented import path of LegoNet training (README:
``igcsearch.lego_train.make_trainable(net)``); the code lives in :mod:`igcsearch.handoff.lego_train`."""

from .handoff.lego_train import (
    LegoTrainBlock,
    OneHotSTE,
    freeze,
    lego_blocks,
    make_trainable,
    one_hot_ste,
    to_inference,
    usage_penalty,
)

__all__ = [
    "LegoTrainBlock",
    "OneHotSTE",
    "freeze",
    "lego_blocks",
    "make_trainable",
    "one_hot_ste",
    "to_inference",
    "usage_penalty",
]
