"""mal: Model-as-Loss speech enhancement with ESPnet/Kaldi-style recipes."""

__version__ = "0.1.0"


def load(name_or_path=None, device: str = "auto", **options):
    """Load an enhancement model: ``mal.load("model.pth").enhance(x, sample_rate)``.

    ``name_or_path``: a ``.pth`` checkpoint, a packed archive, a shipped model's name, or None
    for the shipped default model. See :mod:`mal.api`.
    """
    from mal.api import load as load_model

    return load_model(name_or_path, device, **options)
