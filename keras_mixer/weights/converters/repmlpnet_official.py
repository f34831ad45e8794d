"""Official RepMLPNet state dicts (DingXiaoH/RepMLP `.pth`), training or deploy form.

The training form has each RepMLP block's `fc3` (no bias), `fc3_bn` and its
`repconv{k}` branches; the deploy form has them merged into `fc3` with a
bias. Both forms' rules are listed: the model's own weights (`deploy=` of
the builder) pick which apply, and the other form's keys are reported as
having no place in it. BatchNorm's `num_batches_tracked` holds no weight.

No weight is resampled to another input size, and none needs to be:
`fc3` maps the `h x w` pixels of one partition (`partition_sizes`), not the
image, so a checkpoint loads unchanged into a model built for any input
size with the same partition sizes. Other partition sizes change `fc3`'s
shape; that is reported as a mismatch, since resampling `fc3` alone would
no longer agree with the conv branches it was trained beside.
"""

from keras_mixer.weights.layouts import Layout
from keras_mixer.weights.layouts import torch_batch_norm
from keras_mixer.weights.layouts import torch_conv
from keras_mixer.weights.layouts import torch_linear

UNIT, BLOCK = "stage{s}_unit{u}", "stages.{s}.{u}"
REPMLP, OFFICIAL = f"{UNIT}_repmlp", f"{BLOCK}.repmlp_block"


def _conv_bn(keras_name, source):
    """A conv-BN(-ReLU) embedding: `{keras_name}_conv` and `{keras_name}_bn`."""
    return (*torch_conv(f"{keras_name}_conv", f"{source}.conv", bias=False),
            *torch_batch_norm(f"{keras_name}_bn", f"{source}.bn"))


LAYOUT = Layout(
    "repmlpnet_official",
    "official RepMLPNet state dict (DingXiaoH/RepMLP)",
    "repmlpnet",
    "stages.0.0.repmlp_block.fc3.weight",
    (
        *_conv_bn("stem", "conv_embedding"),
        *_conv_bn("embed{e}", "embeds.{e-1}"),
        *torch_batch_norm(f"{UNIT}_prebn1", f"{BLOCK}.prebn1"),
        *torch_linear(f"{REPMLP}/gp_fc1", f"{OFFICIAL}.gp.fc1", "pointwise"),
        *torch_linear(f"{REPMLP}/gp_fc2", f"{OFFICIAL}.gp.fc2", "pointwise"),
        (f"{REPMLP}/fc3_kernel", f"{OFFICIAL}.fc3.weight", "grouped"),
        (f"{REPMLP}/fc3_bias", f"{OFFICIAL}.fc3.bias", "sets"),
        *torch_batch_norm(f"{REPMLP}/fc3_bn", f"{OFFICIAL}.fc3_bn"),
        (f"{REPMLP}/repconv{{k}}_kernel", f"{OFFICIAL}.repconv{{k}}.conv.weight", "depthwise"),
        *torch_batch_norm(f"{REPMLP}/repconv{{k}}_bn", f"{OFFICIAL}.repconv{{k}}.bn"),
        *torch_batch_norm(f"{UNIT}_prebn2", f"{BLOCK}.prebn2"),
        (f"{UNIT}_ffn/fc1/kernel", f"{BLOCK}.ffn_block.ffn_fc1.conv.weight", "pointwise"),
        *torch_batch_norm(f"{UNIT}_ffn/bn1", f"{BLOCK}.ffn_block.ffn_fc1.bn"),
        (f"{UNIT}_ffn/fc2/kernel", f"{BLOCK}.ffn_block.ffn_fc2.conv.weight", "pointwise"),
        *torch_batch_norm(f"{UNIT}_ffn/bn2", f"{BLOCK}.ffn_block.ffn_fc2.bn"),
        *torch_batch_norm("head_norm", "head_norm"),
        *torch_linear("head", "head"),
    ),
    ignored=(".num_batches_tracked",),
)
