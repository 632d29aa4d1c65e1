"""One registry helper behind models, criteria and recognisers: names, plug-ins, base-class check."""
from __future__ import annotations

import pytest

from mal.asr import RECOGNIZERS, AbsRecognizer
from mal.losses import LOSSES, AbsLoss
from mal.models import MODELS, AbsSEModel, build_model, model_class
from mal.registry import Registry


@pytest.mark.parametrize("registry,base", [(MODELS, AbsSEModel), (LOSSES, AbsLoss), (RECOGNIZERS, AbsRecognizer)],
                         ids=["models", "losses", "recognizers"])
def test_every_registered_class_has_the_base(registry, base):
    assert registry.base is base and registry.names()
    for name in registry.names():
        assert issubclass(registry.get(name), base)


def test_a_wrong_entry_fails_when_chosen(monkeypatch):
    monkeypatch.setitem(MODELS.entries, "not_a_model", "mal.losses.time:L1Loss")
    with pytest.raises(KeyError, match=r"model 'not_a_model': mal.losses.time:L1Loss is not a subclass of AbsSEModel"):
        build_model("not_a_model")
    monkeypatch.setitem(MODELS.entries, "gone", "mal.models.tiny:Gone")
    with pytest.raises(KeyError, match=r"model 'gone': mal.models.tiny has no class Gone"):
        model_class("gone")
    with pytest.raises(KeyError, match=r"unknown model 'nope'; choose one of: .*tiny"):
        model_class("nope")
    with pytest.raises(KeyError, match=r"unknown model 'mal.models.tiny:TinyConvAE'"):
        model_class("mal.models.tiny:TinyConvAE")  # no plug-ins for models


def test_bad_constructor_arguments_name_the_entry():
    with pytest.raises(TypeError, match=r"model 'tiny': bad configuration \{'wrong': 1\}"):
        build_model("tiny", wrong=1)


def test_plugins_are_checked_too():
    registry = Registry("recognizer", AbsRecognizer, {}, plugins=True)
    with pytest.raises(KeyError, match=r"recognizer 'mal.losses.time:L1Loss': .* is not a subclass of AbsRecognizer"):
        registry.get("mal.losses.time:L1Loss")
    with pytest.raises(KeyError, match=r"recognizer 'no_such_module:X': cannot import no_such_module"):
        registry.get("no_such_module:X")
    with pytest.raises(KeyError, match=r"unknown recognizer 'x'; choose one of: , or give 'package.module:Class'"):
        registry.get("x")
