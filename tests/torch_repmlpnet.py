"""A small PyTorch RepMLPNet with the official module names, written for the tests.

It follows the structure of the official definition (DingXiaoH/RepMLP,
repmlpnet.py) so that its `state_dict()` has the official key layout and its
outputs are the reference the Keras port is checked against.
"""

from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(in_channels, out_channels, kernel, stride=1, groups=1, relu=False):
    layers = [
        ("conv", nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2 if stride == 1 else 0,
                           groups=groups, bias=False)),
        ("bn", nn.BatchNorm2d(out_channels)),
    ]
    if relu:
        layers.append(("relu", nn.ReLU()))
    return nn.Sequential(OrderedDict(layers))


class GlobalPerceptron(nn.Module):
    def __init__(self, channels, hidden):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x):
        x = F.adaptive_avg_pool2d(x, 1)
        return torch.sigmoid(self.fc2(F.relu(self.fc1(x))))


class RepMLPBlock(nn.Module):
    def __init__(self, channels, size, sets, kernels, reduction):
        super().__init__()
        self.channels, self.size, self.sets, self.kernels = channels, size, sets, kernels
        self.gp = GlobalPerceptron(channels, channels // reduction)
        area = size * size
        self.fc3 = nn.Conv2d(sets * area, sets * area, 1, groups=sets, bias=False)
        self.fc3_bn = nn.BatchNorm2d(sets)
        for k in kernels:
            setattr(self, f"repconv{k}", conv_bn(sets, sets, k, groups=sets))

    def forward(self, x):
        n, c, height, width = x.shape
        s, p = self.size, self.sets
        hp, wp = height // s, width // s
        parts = x.reshape(n, c, hp, s, wp, s).permute(0, 2, 4, 1, 3, 5)
        out = self.fc3(parts.reshape(-1, p * s * s, 1, 1)).reshape(-1, p, s, s)
        out = self.fc3_bn(out)
        conv_in = parts.reshape(-1, p, s, s)
        for k in self.kernels:
            out = out + getattr(self, f"repconv{k}")(conv_in)
        out = out.reshape(n, hp, wp, c, s, s).permute(0, 3, 1, 4, 2, 5).reshape(n, c, height, width)
        return out * self.gp(x)


class FFN(nn.Module):
    def __init__(self, channels, expansion):
        super().__init__()
        self.ffn_fc1 = conv_bn(channels, channels * expansion, 1)
        self.ffn_fc2 = conv_bn(channels * expansion, channels, 1)

    def forward(self, x):
        return self.ffn_fc2(F.gelu(self.ffn_fc1(x)))


class Unit(nn.Module):
    def __init__(self, channels, size, sets, kernels, reduction, expansion):
        super().__init__()
        self.repmlp_block = RepMLPBlock(channels, size, sets, kernels, reduction)
        self.ffn_block = FFN(channels, expansion)
        self.prebn1 = nn.BatchNorm2d(channels)
        self.prebn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        x = x + self.repmlp_block(self.prebn1(x))
        return x + self.ffn_block(self.prebn2(x))


class TorchRepMLPNet(nn.Module):
    def __init__(self, channels, depths, sharesets, sizes, classes, kernels=(1, 3), patch=4,
                 reduction=4, expansion=4):
        super().__init__()
        self.conv_embedding = conv_bn(3, channels[0], patch, stride=patch, relu=True)
        self.stages = nn.ModuleList(
            nn.ModuleList(Unit(c, s, p, kernels, reduction, expansion) for _ in range(d))
            for c, d, p, s in zip(channels, depths, sharesets, sizes)
        )
        self.embeds = nn.ModuleList(
            conv_bn(a, b, 2, stride=2, relu=True) for a, b in zip(channels, channels[1:])
        )
        self.head_norm = nn.BatchNorm2d(channels[-1])
        self.head = nn.Linear(channels[-1], classes)

    def forward(self, x):
        x = self.conv_embedding(x)
        for index, stage in enumerate(self.stages):
            if index:
                x = self.embeds[index - 1](x)
            for unit in stage:
                x = unit(x)
        return self.head(F.adaptive_avg_pool2d(self.head_norm(x), 1).flatten(1))


def randomize(module, seed=0):
    """Random weights and BN statistics, so parity does not rest on an identity init."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in module.state_dict().items():
            if not tensor.is_floating_point():
                continue
            values = torch.randn(tensor.shape, generator=generator) * 0.2
            if name.endswith("running_var"):
                values = torch.rand(tensor.shape, generator=generator) + 0.5
            elif name.endswith("bn.weight") or "prebn" in name or "head_norm.weight" in name:
                values = values + 1.0
            tensor.copy_(values)
    return module.eval()


def deploy_state_dict(model):
    """The official deploy-form keys: each block's BNs and convs merged into `fc3` with bias.

    Done the way the paper describes, independently of the Keras code: fold
    each BN, convolve an identity batch with each branch's kernel to get its
    FC, and sum.
    """
    state = {}
    for name, tensor in model.state_dict().items():
        if ".repmlp_block." in name and (".fc3" in name or ".repconv" in name):
            continue
        state[name] = tensor.numpy()
    for stage_index, stage in enumerate(model.stages):
        for unit_index, unit in enumerate(stage):
            block = unit.repmlp_block
            weight, bias = _merged_fc3(block)
            prefix = f"stages.{stage_index}.{unit_index}.repmlp_block.fc3"
            state[f"{prefix}.weight"] = weight.numpy()
            state[f"{prefix}.bias"] = bias.numpy()
    return state


def _fold(weight, bn):
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return weight, scale, bn.bias - bn.running_mean * scale


@torch.no_grad()
def _merged_fc3(block):
    s, p = block.size, block.sets
    area = s * s
    weight, scale, shift = _fold(block.fc3.weight, block.fc3_bn)
    weight = weight * scale.repeat_interleave(area)[:, None, None, None]
    bias = shift.repeat_interleave(area)
    identity = torch.eye(area).repeat(1, p).reshape(area, p, s, s)
    for k in block.kernels:
        branch = getattr(block, f"repconv{k}")
        kernel, scale, shift = _fold(branch.conv.weight, branch.bn)
        response = F.conv2d(identity, kernel * scale[:, None, None, None], padding=k // 2, groups=p)
        weight = weight + response.reshape(area, p * area).t().reshape(weight.shape)
        bias = bias + shift.repeat_interleave(area)
    return weight, bias
