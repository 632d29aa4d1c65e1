"""mal: Model-as-Loss speech enhancement with ESPnet/Kaldi-style recipes."""

__version__ = "0.1.0"
