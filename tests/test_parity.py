"""Parity with the reference implementations, from random checkpoints in their layouts.

- ResMLP against timm's `resmlp_*` (timm run in torch) and against the
  official deit definition (a float64 NumPy forward written from deit's
  `resmlp_models.py`, reading the `.pth` state dict directly);
- MLP-Mixer against the official Flax definition (a float64 NumPy forward of
  `vit_jax/models_mixer.py`: tanh GELU, LayerNorm eps 1e-6, inputs in [-1, 1],
  reading the `.npz` directly) and against timm's `mixer_*` (exact GELU).
Logits must agree to 1e-4 relative on every backend. timm is imported with a
torchvision stub when torchvision is missing (see tests/timm_import.py).
"""

import numpy as np
import pytest

import keras_mixer
from conftest import random_images
from conftest import relative_error
from reference import gelu
from reference import layer_norm
from timm_import import import_timm

TOLERANCE = 1e-4
SIZE, PATCH, DIM, DEPTH, CLASSES = 32, 8, 32, 2, 5
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406])
IMAGENET_STD = np.array([0.229, 0.224, 0.225])


def _randomize_torch(module, seed):
    import torch

    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in module.named_parameters():
            values = torch.randn(parameter.shape, generator=generator) * 0.1
            if name.endswith(("alpha", "ls1", "ls2", "norm1.weight", "norm2.weight", "norm.weight")):
                values += 1.0
            parameter.copy_(values)
    return module.eval()


def _save_state(module, path, checkpoint_format):
    import torch

    state = {key: value.contiguous() for key, value in module.state_dict().items()}
    if checkpoint_format == "safetensors":
        from safetensors.torch import save_file

        save_file(state, path)
    else:
        torch.save(state, path)


def _torch_logits(module, images_nchw):
    import torch

    with torch.no_grad():
        return module(torch.from_numpy(images_nchw.astype("float32"))).numpy()


@pytest.mark.parametrize("checkpoint_format", ["safetensors", "pth"])
def test_resmlp_matches_timm(tmp_path, checkpoint_format):
    timm = import_timm()
    reference = _randomize_torch(
        timm.models.mlp_mixer.MlpMixer(
            num_classes=CLASSES, img_size=SIZE, patch_size=PATCH, num_blocks=DEPTH,
            embed_dim=DIM, mlp_ratio=4, block_layer=timm.models.mlp_mixer.ResBlock,
            norm_layer=timm.models.mlp_mixer.Affine,
        ),
        seed=1,
    )
    path = str(tmp_path / f"resmlp.{checkpoint_format}")
    _save_state(reference, path, checkpoint_format)
    model = keras_mixer.ResMLP(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, input_shape=(SIZE, SIZE, 3),
        classes=CLASSES, classifier_activation=None, weights=path,
    )
    images = random_images((2, SIZE, SIZE, 3))
    normalised = (images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    expected = _torch_logits(reference, normalised.transpose(0, 3, 1, 2))
    assert relative_error(model.predict(images, verbose=0), expected) <= TOLERANCE


def test_mixer_matches_timm_with_exact_gelu(tmp_path):
    timm = import_timm()
    reference = _randomize_torch(
        timm.models.mlp_mixer.MlpMixer(
            num_classes=CLASSES, img_size=SIZE, patch_size=PATCH, num_blocks=DEPTH,
            embed_dim=DIM, mlp_ratio=(0.5, 4.0),
        ),
        seed=2,
    )
    path = str(tmp_path / "mixer.safetensors")
    _save_state(reference, path, "safetensors")
    model = keras_mixer.MLPMixer(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
        channel_mixing_dim=4 * DIM, input_shape=(SIZE, SIZE, 3), classes=CLASSES,
        classifier_activation=None, weights=path,
    )
    assert not model.get_layer("block_0").gelu_approximate
    images = random_images((2, SIZE, SIZE, 3))
    expected = _torch_logits(reference, (images / 127.5 - 1.0).transpose(0, 3, 1, 2))
    assert relative_error(model.predict(images, verbose=0), expected) <= TOLERANCE


def _patches(images, patch):
    batch, height, width, channels = images.shape
    x = images.reshape(batch, height // patch, patch, width // patch, patch, channels)
    return x.transpose(0, 1, 3, 2, 4, 5).reshape(batch, (height // patch) * (width // patch), -1)


def deit_resmlp_forward(state, images, depth):
    """deit's ResMLP on normalised NHWC images, from the torch state dict (float64)."""
    w = {key: np.asarray(value, "float64") for key, value in state.items()}
    conv = w["patch_embed.proj.weight"]  # OIHW
    patch = conv.shape[-1]
    x = _patches(images, patch) @ conv.transpose(2, 3, 1, 0).reshape(-1, conv.shape[0])
    x = x + w["patch_embed.proj.bias"]

    def affine(name, x):
        return x * w[f"{name}.alpha"] + w[f"{name}.beta"]

    for i in range(depth):
        b = f"blocks.{i}"
        tokens = affine(f"{b}.norm1", x).transpose(0, 2, 1) @ w[f"{b}.attn.weight"].T
        x = x + w[f"{b}.gamma_1"] * (tokens + w[f"{b}.attn.bias"]).transpose(0, 2, 1)
        hidden = gelu(affine(f"{b}.norm2", x) @ w[f"{b}.mlp.fc1.weight"].T + w[f"{b}.mlp.fc1.bias"], False)
        x = x + w[f"{b}.gamma_2"] * (hidden @ w[f"{b}.mlp.fc2.weight"].T + w[f"{b}.mlp.fc2.bias"])
    x = affine("norm", x).mean(1)
    return x @ w["head.weight"].T + w["head.bias"]


def _deit_state(rng, tokens):
    hidden = 4 * DIM
    shapes = {
        "patch_embed.proj.weight": (DIM, 3, PATCH, PATCH), "patch_embed.proj.bias": (DIM,),
        "norm.alpha": (DIM,), "norm.beta": (DIM,),
        "head.weight": (CLASSES, DIM), "head.bias": (CLASSES,),
    }
    for i in range(DEPTH):
        b = f"blocks.{i}"
        shapes.update({
            f"{b}.norm1.alpha": (DIM,), f"{b}.norm1.beta": (DIM,),
            f"{b}.attn.weight": (tokens, tokens), f"{b}.attn.bias": (tokens,),
            f"{b}.norm2.alpha": (DIM,), f"{b}.norm2.beta": (DIM,),
            f"{b}.mlp.fc1.weight": (hidden, DIM), f"{b}.mlp.fc1.bias": (hidden,),
            f"{b}.mlp.fc2.weight": (DIM, hidden), f"{b}.mlp.fc2.bias": (DIM,),
            f"{b}.gamma_1": (DIM,), f"{b}.gamma_2": (DIM,),
        })
    return {
        key: (rng.normal(0, 0.1, shape) + (1.0 if key.endswith(("alpha", "gamma_1", "gamma_2")) else 0.0))
        .astype("float32")
        for key, shape in shapes.items()
    }


@pytest.mark.parametrize("use_torch", [True, False], ids=["torch.load", "restricted-unpickler"])
def test_resmlp_matches_official_deit_definition(tmp_path, monkeypatch, use_torch):
    torch = pytest.importorskip("torch")
    from keras_mixer.weights import pth

    monkeypatch.setattr(pth, "_torch_available", lambda: use_torch)
    state = _deit_state(np.random.default_rng(3), (SIZE // PATCH) ** 2)
    path = str(tmp_path / "resmlp_official.pth")
    torch.save({"model": {key: torch.from_numpy(value) for key, value in state.items()}}, path)
    model = keras_mixer.ResMLP(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, input_shape=(SIZE, SIZE, 3),
        classes=CLASSES, classifier_activation=None, weights=path,
    )
    images = random_images((2, SIZE, SIZE, 3))
    expected = deit_resmlp_forward(state, (images / 255.0 - IMAGENET_MEAN) / IMAGENET_STD, DEPTH)
    assert relative_error(model.predict(images, verbose=0), expected) <= TOLERANCE


def flax_mixer_forward(params, images, depth):
    """vit_jax's MlpMixer on [-1, 1] NHWC images, from the `.npz` params (float64)."""
    p = {key: np.asarray(value, "float64") for key, value in params.items()}
    kernel = p["stem/kernel"]  # HWIO
    x = _patches(images, kernel.shape[0]) @ kernel.reshape(-1, kernel.shape[-1]) + p["stem/bias"]

    def mlp(prefix, x):
        hidden = gelu(x @ p[f"{prefix}/Dense_0/kernel"] + p[f"{prefix}/Dense_0/bias"], True)
        return hidden @ p[f"{prefix}/Dense_1/kernel"] + p[f"{prefix}/Dense_1/bias"]

    for i in range(depth):
        b = f"MixerBlock_{i}"
        y = layer_norm(x, p[f"{b}/LayerNorm_0/scale"], p[f"{b}/LayerNorm_0/bias"], 1e-6)
        x = x + mlp(f"{b}/token_mixing", y.transpose(0, 2, 1)).transpose(0, 2, 1)
        y = layer_norm(x, p[f"{b}/LayerNorm_1/scale"], p[f"{b}/LayerNorm_1/bias"], 1e-6)
        x = x + mlp(f"{b}/channel_mixing", y)
    x = layer_norm(x, p["pre_head_layer_norm/scale"], p["pre_head_layer_norm/bias"], 1e-6)
    return x.mean(1) @ p["head/kernel"] + p["head/bias"]


def flax_mixer_params(rng, tokens, depth=DEPTH, classes=CLASSES, dim=DIM, patch=PATCH):
    """Random parameters in the official `.npz` layout ('/'-joined Flax names)."""
    token_hidden, channel_hidden = dim // 2, 4 * dim
    shapes = {
        "stem/kernel": (patch, patch, 3, dim), "stem/bias": (dim,),
        "pre_head_layer_norm/scale": (dim,), "pre_head_layer_norm/bias": (dim,),
        "head/kernel": (dim, classes), "head/bias": (classes,),
    }
    for i in range(depth):
        b = f"MixerBlock_{i}"
        for norm in ("LayerNorm_0", "LayerNorm_1"):
            shapes.update({f"{b}/{norm}/scale": (dim,), f"{b}/{norm}/bias": (dim,)})
        for name, (inputs, hidden) in (("token_mixing", (tokens, token_hidden)),
                                       ("channel_mixing", (dim, channel_hidden))):
            shapes.update({
                f"{b}/{name}/Dense_0/kernel": (inputs, hidden), f"{b}/{name}/Dense_0/bias": (hidden,),
                f"{b}/{name}/Dense_1/kernel": (hidden, inputs), f"{b}/{name}/Dense_1/bias": (inputs,),
            })
    return {
        key: (rng.normal(0, 0.3, shape) + (1.0 if key.endswith("scale") else 0.0)).astype("float32")
        for key, shape in shapes.items()
    }


def test_mixer_matches_official_flax_definition(tmp_path):
    params = flax_mixer_params(np.random.default_rng(4), (SIZE // PATCH) ** 2)
    path = str(tmp_path / "Mixer-official.npz")
    np.savez(path, **params)
    model = keras_mixer.MLPMixer(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
        channel_mixing_dim=4 * DIM, input_shape=(SIZE, SIZE, 3), classes=CLASSES,
        classifier_activation=None, weights=path,
    )
    assert model.get_layer("block_0").gelu_approximate  # chosen by the checkpoint
    images = random_images((2, SIZE, SIZE, 3))
    expected = flax_mixer_forward(params, images / 127.5 - 1.0, DEPTH)
    tanh_error = relative_error(model.predict(images, verbose=0), expected)
    assert tanh_error <= TOLERANCE
    exact = keras_mixer.MLPMixer(
        patch_size=PATCH, embed_dim=DIM, depth=DEPTH, token_mixing_dim=DIM // 2,
        channel_mixing_dim=4 * DIM, input_shape=(SIZE, SIZE, 3), classes=CLASSES,
        classifier_activation=None, weights=path, gelu_approximate=False,
    )
    assert relative_error(exact.predict(images, verbose=0), expected) > 10 * tanh_error
