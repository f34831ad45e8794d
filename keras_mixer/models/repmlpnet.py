"""RepMLPNet (Ding et al. 2021/2022): a hierarchical MLP with re-parameterised locality."""

import math

import keras

from keras_mixer import registry
from keras_mixer.arguments import boolean
from keras_mixer.arguments import positive_int
from keras_mixer.layers import FFNBlock
from keras_mixer.layers import RepMLPBlock
from keras_mixer.layers import traceable
from keras_mixer.models.builder import check_application_arguments
from keras_mixer.models.builder import classification_output
from keras_mixer.models.builder import finish_model
from keras_mixer.models.builder import input_layer
from keras_mixer.models.builder import preprocessing_layer
from keras_mixer.models.builder import resolve_input_shape
from keras_mixer.models.builder import spec_arguments

PAPER = "Ding et al. 2022, RepMLPNet, arXiv:2112.11081"
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # PyTorch's momentum 0.1


def _stage_tuple(name, value, stages):
    if not isinstance(value, (tuple, list)):
        raise ValueError(f"{name}={value!r} is not supported; expected one entry per stage.")
    value = tuple(value)
    if len(value) != stages:
        raise ValueError(
            f"{name}={value!r} has {len(value)} entries; expected one per stage ({stages}, "
            f"as in channels)."
        )
    for entry in value:
        positive_int(f"each entry of {name}", entry)
    return value


def _batch_norm(name):
    return traceable.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name)


def _conv_bn_relu(x, filters, size, name):
    x = keras.layers.Conv2D(filters, size, strides=size, use_bias=False, name=f"{name}_conv")(x)
    return keras.layers.ReLU(name=f"{name}_relu")(_batch_norm(f"{name}_bn")(x))


def repmlpnet_unit(x, *, partition_size, num_sharesets, conv_kernel_sizes, global_reduction,
                   ffn_expansion, deploy, name):
    """`y = x + RepMLPBlock(BN(x))`, then `y + FFN(BN(y))`, as named layers."""
    block = RepMLPBlock(
        partition_size,
        num_sharesets=num_sharesets,
        conv_kernel_sizes=conv_kernel_sizes,
        global_reduction=global_reduction,
        deploy=deploy,
        name=f"{name}_repmlp",
    )
    x = keras.layers.Add(name=f"{name}_add1")([x, block(_batch_norm(f"{name}_prebn1")(x))])
    ffn = FFNBlock(ffn_expansion, name=f"{name}_ffn")
    return keras.layers.Add(name=f"{name}_add2")([x, ffn(_batch_norm(f"{name}_prebn2")(x))])


def RepMLPNet(
    channels=(64, 128, 256, 512),
    depths=(2, 2, 6, 2),
    sharesets=(1, 4, 16, 128),
    partition_sizes=(56, 28, 14, 7),
    conv_kernel_sizes=(1, 3),
    global_reduction=4,
    ffn_expansion=4,
    patch_size=4,
    deploy=False,
    include_top=True,
    weights=None,
    input_tensor=None,
    input_shape=None,
    pooling=None,
    classes=1000,
    classifier_activation="softmax",
    include_preprocessing=True,
    name="repmlpnet",
):
    """Instantiates a RepMLPNet with any hyper-parameters.

    A conv-BN-ReLU stem (kernel = stride = `patch_size`), then stages of
    RepMLPNet units (`x + RepMLPBlock(BN(x))`, then `+ FFN(BN(x))`) joined by
    2x2 stride-2 conv-BN-ReLU embeddings, a final BatchNorm, average pooling
    and the head. Stage `i` works on maps of side `H / (patch_size * 2**i)`,
    cut into partitions of side `partition_sizes[i]`; the natural input
    side is the one with a single partition per stage (224 or 256), and any
    multiple of it works.

    Args:
        channels: channels of each stage.
        depths: number of units of each stage.
        sharesets: share-sets of the RepMLP blocks of each stage.
        partition_sizes: partition side of each stage.
        conv_kernel_sizes: kernels of the local perceptron's conv branches.
        global_reduction: global perceptron hidden width is `C // global_reduction`.
        ffn_expansion: hidden width of the FFN relative to C.
        patch_size: side of the stem's patches.
        deploy: build the inference form directly (every RepMLP block a single
            FC); `keras_mixer.reparameterize` converts a trained model.
        include_top: whether to end with the classification head.
        weights: None (random initialisation), the path of a Keras
            `.weights.h5` file of the same architecture, or an official
            RepMLPNet `.pth` state dict (read without unpickling code, every
            key and shape checked before anything is assigned).
        input_tensor: optional Keras tensor to use as the image input.
        input_shape: `(height, width, channels)`, each side a multiple of
            `patch_size * 2**i * partition_sizes[i]` for every stage `i`;
            default the smallest such square.
        pooling: with `include_top=False`: None returns the final feature map
            `(batch, H/32, W/32, C)`, `"avg"` / `"max"` pool it to `(batch, C)`.
        classes: number of classes of the head.
        classifier_activation: activation of the head (`"softmax"`, None, ...).
        include_preprocessing: take raw 0-255 RGB pixels (uint8 or float) and
            normalise them with the ImageNet mean and std, as the official
            checkpoints expect; if False the model takes normalised inputs.
        name: model name.

    Returns:
        A `keras.Model`.

    Example:

    >>> import numpy as np, keras_mixer
    >>> model = keras_mixer.RepMLPNet(channels=(8, 16), depths=(1, 1),
    ...     sharesets=(1, 4), partition_sizes=(4, 2), input_shape=(32, 32, 3),
    ...     classes=10)
    >>> model.predict(np.zeros((2, 32, 32, 3), "uint8"), verbose=0).shape
    (2, 10)
    """
    arguments = spec_arguments(locals())
    check_application_arguments(weights, "repmlpnet", arguments)
    positive_int("patch_size", patch_size)
    positive_int("global_reduction", global_reduction)
    positive_int("ffn_expansion", ffn_expansion)
    boolean("deploy", deploy)
    if not isinstance(channels, (tuple, list)) or not channels:
        raise ValueError(f"channels={channels!r} is not supported; expected one width per stage.")
    stages = len(channels)
    channels = _stage_tuple("channels", channels, stages)
    depths = _stage_tuple("depths", depths, stages)
    sharesets = _stage_tuple("sharesets", sharesets, stages)
    partition_sizes = _stage_tuple("partition_sizes", partition_sizes, stages)
    for stage, (width, sets) in enumerate(zip(channels, sharesets)):
        if width % sets:
            raise ValueError(
                f"sharesets[{stage}]={sets} does not divide channels[{stage}]={width}; "
                f"expected each stage's channels to be a multiple of its share-sets."
            )
    unit = math.lcm(*(patch_size * 2**i * size for i, size in enumerate(partition_sizes)))
    input_shape = arguments["input_shape"] = resolve_input_shape(
        input_shape,
        input_tensor,
        unit,
        3 if include_preprocessing else None,
        default_size=unit,
        unit="stem patch x stage stride x partition size",
    )

    inputs = input_layer(input_shape, input_tensor)
    x = preprocessing_layer(FAMILY.preprocessing)(inputs) if include_preprocessing else inputs
    x = _conv_bn_relu(x, channels[0], patch_size, "stem")
    for stage in range(stages):
        if stage:
            x = _conv_bn_relu(x, channels[stage], 2, f"embed{stage}")
        for index in range(depths[stage]):
            x = repmlpnet_unit(
                x,
                partition_size=partition_sizes[stage],
                num_sharesets=sharesets[stage],
                conv_kernel_sizes=conv_kernel_sizes,
                global_reduction=global_reduction,
                ffn_expansion=ffn_expansion,
                deploy=deploy,
                name=f"stage{stage}_unit{index}",
            )
    x = _batch_norm("head_norm")(x)
    outputs = classification_output(
        x,
        include_top=include_top,
        pooling=pooling,
        classes=classes,
        classifier_activation=classifier_activation,
    )
    arguments.update(channels=channels, depths=depths, sharesets=sharesets,
                     partition_sizes=partition_sizes, conv_kernel_sizes=tuple(conv_kernel_sizes))
    return finish_model(inputs, input_tensor, outputs, name, weights, "repmlpnet", arguments)


FAMILY = registry.register_family(registry.Family(
    name="repmlpnet",
    title="RepMLPNet",
    paper=PAPER,
    summary=("Hierarchical MLP whose FC layers learn locality from conv branches "
             "that are merged into them for inference."),
    builder=RepMLPNet,
    architecture=("channels", "depths", "sharesets", "partition_sizes", "conv_kernel_sizes",
                  "global_reduction", "ffn_expansion", "patch_size"),
    preprocessing=registry.IMAGENET_MEAN_STD,
    # The official test.py: Resize(resolution) (torchvision's bilinear), then
    # CenterCrop(resolution): the whole shorter side, no margin.
    eval_transform=registry.EvalTransform(1.0, "bilinear", "DingXiaoH/RepMLP test.py"),
    recipe="deit",
    stochastic_depth="none (the official code has no stochastic depth)",
    gelu_approximate=False,
    params_note=" (deploy form, trainable)",
    depth_arguments=("depths",),
    feature_layers=lambda arguments: {
        f"stage{stage}": f"stage{stage}_unit{depth - 1}_add2" for stage, depth in enumerate(arguments["depths"])
    },
))

_TINY = dict(channels=(64, 128, 256, 512), depths=(2, 2, 6, 2), sharesets=(1, 4, 16, 128))
_BASE = dict(channels=(96, 192, 384, 768), depths=(2, 2, 12, 2), sharesets=(1, 4, 32, 128))
_DEEP = dict(channels=(80, 160, 320, 640), depths=(2, 2, 18, 2), sharesets=(1, 4, 16, 128))
_LARGE = dict(channels=(96, 192, 384, 768), depths=(2, 2, 18, 2), sharesets=(1, 4, 32, 256))
_PARTITIONS = {224: (56, 28, 14, 7), 256: (64, 32, 16, 8)}


def _variant(name, function, params, size, sizes):
    return registry.register_variant(
        FAMILY, name, function, params, dict(**sizes, partition_sizes=_PARTITIONS[size]),
        image_size=size, example_size=size,
    )


RepMLPNetT224 = _variant("repmlpnet_t224", "RepMLPNetT224", 38_331_720, 224, _TINY)
RepMLPNetB224 = _variant("repmlpnet_b224", "RepMLPNetB224", 68_332_664, 224, _BASE)
RepMLPNetT256 = _variant("repmlpnet_t256", "RepMLPNetT256", 58_739_400, 256, _TINY)
RepMLPNetB256 = _variant("repmlpnet_b256", "RepMLPNetB256", 96_568_184, 256, _BASE)
RepMLPNetD256 = _variant("repmlpnet_d256", "RepMLPNetD256", 86_985_280, 256, _DEEP)
RepMLPNetL256 = _variant("repmlpnet_l256", "RepMLPNetL256", 117_820_600, 256, _LARGE)
