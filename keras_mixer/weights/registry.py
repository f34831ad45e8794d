"""The official pretrained weights: one entry per variant x tag, from the publishers' URLs.

`weights="imagenet"` (and the other tags) resolve through this registry;
`markdown_table()` renders it for the documentation (docs/weights.md).
"""

import dataclasses

# Architecture of each variant: (family, patch_size, embed_dim, depth).
ARCHITECTURES = {
    "resmlp12": ("resmlp", 16, 384, 12),
    "resmlp24": ("resmlp", 16, 384, 24),
    "resmlp36": ("resmlp", 16, 384, 36),
    "resmlpb24": ("resmlp", 8, 768, 24),
    "mixer_b16": ("mixer", 16, 768, 12),
    "mixer_l16": ("mixer", 16, 1024, 24),
}

DEIT = "https://dl.fbaipublicfiles.com/deit/"
MIXER = "https://storage.googleapis.com/mixer_models/"
RESMLP_PREPROCESSING = "RGB 0-255 -> ImageNet mean/std; eval resize 248, centre crop 224 (ratio 0.9)"
MIXER_PREPROCESSING = "RGB 0-255 -> [-1, 1]; 224x224"


@dataclasses.dataclass(frozen=True)
class WeightsEntry:
    """One official checkpoint and what a user needs to know about it."""

    model: str
    tag: str
    url: str
    source: str
    layout: str
    classes: int
    preprocessing: str
    top1: float = None
    top1_source: str = ""
    image_size: int = 224
    gelu_approximate: bool = False

    @property
    def filename(self):
        return f"{self.model}_{self.tag}_" + self.url.rsplit("/", 1)[-1]


def _resmlp(model, tag, filename, top1, top1_source):
    return WeightsEntry(
        model, tag, DEIT + filename, "facebookresearch/deit (official)", "resmlp_deit", 1000,
        RESMLP_PREPROCESSING, top1, top1_source,
    )


def _mixer(model, tag, folder, filename, classes, top1, top1_source):
    return WeightsEntry(
        model, tag, f"{MIXER}{folder}/{filename}", "google-research/vision_transformer (official)",
        "mixer_flax", classes, MIXER_PREPROCESSING, top1, top1_source, gelu_approximate=True,
    )


TIMM = "timm model card (same file)"
DEIT_README = "deit README_resmlp.md"
REGISTRY = (
    _resmlp("resmlp12", "imagenet", "resmlp_12_no_dist.pth", 76.66, TIMM),
    _resmlp("resmlp24", "imagenet", "resmlp_24_no_dist.pth", 79.38, TIMM),
    _resmlp("resmlp36", "imagenet", "resmlp_36_no_dist.pth", 79.77, TIMM),
    _resmlp("resmlpb24", "imagenet", "resmlpB_24_no_dist.pth", 81.03, TIMM),
    _resmlp("resmlp12", "imagenet_distilled", "resmlp_12_dist.pth", 77.8, DEIT_README),
    _resmlp("resmlp24", "imagenet_distilled", "resmlp_24_dist.pth", 80.8, DEIT_README),
    _resmlp("resmlp36", "imagenet_distilled", "resmlp_36_dist.pth", 81.1, DEIT_README),
    _resmlp("resmlpb24", "imagenet_distilled", "resmlpB_24_dist.pth", 83.6, DEIT_README),
    _resmlp("resmlpb24", "imagenet22k", "resmlpB_24_22k.pth", 84.4, DEIT_README),
    _mixer("mixer_b16", "imagenet", "imagenet1k", "Mixer-B_16.npz", 1000, 76.68,
           "mmpretrain eval of the converted file"),
    _mixer("mixer_l16", "imagenet", "imagenet1k", "Mixer-L_16.npz", 1000, 72.34,
           "mmpretrain eval of the converted file"),
    _mixer("mixer_b16", "imagenet21k", "imagenet21k", "Mixer-B_16.npz", 21843, None,
           "21,843-class head, no ImageNet-1k top-1"),
    _mixer("mixer_l16", "imagenet21k", "imagenet21k", "Mixer-L_16.npz", 21843, None,
           "21,843-class head, no ImageNet-1k top-1"),
)
TAGS = tuple(sorted({entry.tag for entry in REGISTRY}))


def find_entry(tag, family, patch_size, embed_dim, depth):
    """The entry for `tag` and an architecture, or a ValueError listing what exists."""
    architecture = (family, patch_size, embed_dim, depth)
    for entry in REGISTRY:
        if entry.tag == tag and ARCHITECTURES[entry.model] == architecture:
            return entry
    available = sorted(f"{entry.model}: {entry.tag!r}" for entry in REGISTRY
                       if ARCHITECTURES[entry.model][0] == family)
    raise ValueError(
        f"weights={tag!r}: no official checkpoint for a {family} with patch_size="
        f"{patch_size}, embed_dim={embed_dim}, depth={depth}; available: "
        f"{', '.join(available)}."
    )


def markdown_table():
    """The registry as a Markdown table (variant, tag, classes, top-1, source, URL).

    Example:

    >>> print(markdown_table().splitlines()[0])
    | model | weights= | classes | top-1 (%) | top-1 from | preprocessing | source | URL |
    """
    lines = [
        "| model | weights= | classes | top-1 (%) | top-1 from | preprocessing | source | URL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in REGISTRY:
        top1 = "-" if entry.top1 is None else f"{entry.top1:.2f}"
        lines.append(
            f"| {entry.model} | `{entry.tag}` | {entry.classes:,} | {top1} | "
            f"{entry.top1_source} | {entry.preprocessing} | {entry.source} | "
            f"[{entry.url.rsplit('/', 1)[-1]}]({entry.url}) |"
        )
    return "\n".join(lines)
