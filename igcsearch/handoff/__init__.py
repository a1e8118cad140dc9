"""The hand-off to training: from search results and models to trained networks.

- ``export``: JSON configs from a results directory (``igcsearch export``);
- ``model``: loading a model (import path, TorchScript, trusted pickle), saving it, probing
  its convs on an example input; shared by ``convert``, ``decompose`` and ``train``;
- ``convert``: replace every eligible conv of a model by a block family (``igcsearch convert``);
- ``decompose``: depthwise decomposition of a trained model (``igcsearch decompose``);
- ``train``: train a config, a network or a model on an .npz dataset (``igcsearch train``);
- ``data``: the .npz dataset of ``train``: loading, checks, augmentation;
- ``checkpoint``: ``train``'s checkpoints: saving, reading, restoring (``--resume``);
- ``lego_train``: trainable LegoBlocks (``make_trainable``, ``to_inference``).

torch is imported by the modules, never by this package: ``import igcsearch.handoff`` stays light.
"""
