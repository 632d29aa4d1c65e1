"""The plan of the offline corpus: who says what, over which noise, at which SNR.

The plan is a pure function of the options (seed, sizes, word and SNR ranges), so a rerun
rebuilds exactly the same corpus, and each set's plan does not depend on the other sets' sizes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

from noises import OOD_KINDS, TRAIN_KINDS
from speakers import EspeakSpeaker, FliteSpeaker, espeak_speakers, flite_speakers, split_speakers
from text_pool import load_sentences, partition, transcript

SET_NAMES = ("train", "valid", "test", "test_ood")
#: Bump when a change makes existing corpora stale (their markers then stop matching).
CORPUS_VERSION = 2
#: Share of the sentence pool each set draws from (disjoint parts; train takes the rest).
TEXT_FRACTIONS = {"valid": 0.08, "test": 0.08, "test_ood": 0.08, "train": None}
#: flite speakers dealt to the in-domain sets; train takes the rest (195 in all).
FLITE_SPEAKER_COUNTS = (("test", 16), ("valid", 12), ("train", None))
NUM_OOD_SPEAKERS = 24
LEVEL_DBFS = (-33.0, -23.0)
PAD_SECONDS = (0.05, 0.3)


@dataclass(frozen=True)
class CorpusOptions:
    """Everything the corpus content depends on."""

    num_train: int = 1500
    num_valid: int = 100
    num_test: int = 100
    num_test_ood: int = 100
    seed: int = 0
    min_words: int = 5
    max_words: int = 11
    snr_low: float = -5.0
    snr_high: float = 15.0
    sample_rate: int = 16000
    babble_pool: int = 48

    def count(self, set_name: str) -> int:
        return getattr(self, f"num_{set_name}")


@dataclass(frozen=True)
class UtterancePlan:
    key: str
    speaker: object  # FliteSpeaker | EspeakSpeaker
    sentence: str
    noise_kind: str
    snr_db: float
    level_dbfs: float
    lead_s: float
    trail_s: float
    seed: Tuple[int, ...]

    @property
    def text(self) -> str:
        return transcript(self.sentence)


@dataclass
class SetPlan:
    name: str
    speakers: List[object]
    noise_kinds: Tuple[str, ...]
    utterances: List[UtterancePlan]
    #: (speaker, sentence) pairs synthesised once to build babble noise from.
    babble: List[Tuple[object, str]] = field(default_factory=list)

    def signature(self, options: CorpusOptions) -> Dict[str, object]:
        """What a finished set's marker records; a mismatch means the set must be rebuilt."""
        sig = {k: v for k, v in asdict(options).items() if not k.startswith("num_")}
        sig.update(version=CORPUS_VERSION, set=self.name, num_utterances=len(self.utterances))
        return sig


def _set_rng(options: CorpusOptions, set_name: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([options.seed, SET_NAMES.index(set_name), stream])


def _speaker_groups(seed: int) -> Dict[str, List[object]]:
    groups = split_speakers(flite_speakers(), FLITE_SPEAKER_COUNTS, seed)
    ood = espeak_speakers()
    order = np.random.default_rng([seed, 13]).permutation(len(ood))[:NUM_OOD_SPEAKERS]
    groups["test_ood"] = [ood[i] for i in order]
    return groups


def _plan_set(name: str, options: CorpusOptions, speakers: List[object], sentences: List[str]) -> SetPlan:
    count = options.count(name)
    kinds = OOD_KINDS if name == "test_ood" else TRAIN_KINDS
    rng = _set_rng(options, name, 0)
    noise_order = rng.permutation(np.resize(np.arange(len(kinds)), count)) if count else []
    utterances = []
    for i in range(count):
        speaker = speakers[i % len(speakers)]
        utterances.append(
            UtterancePlan(
                key=f"{speaker.id}-{name}{i:05d}",
                speaker=speaker,
                sentence=sentences[i % len(sentences)],
                noise_kind=kinds[int(noise_order[i])],
                snr_db=round(float(rng.uniform(options.snr_low, options.snr_high)), 3),
                level_dbfs=round(float(rng.uniform(*LEVEL_DBFS)), 3),
                lead_s=round(float(rng.uniform(*PAD_SECONDS)), 3),
                trail_s=round(float(rng.uniform(*PAD_SECONDS)), 3),
                seed=(options.seed, SET_NAMES.index(name), i),
            )
        )
    babble = []
    if "babble" in kinds and count:
        size = min(options.babble_pool, max(8, 2 * count))
        # babble talkers: the set's own speakers, sentences taken from the end of its text part
        babble = [(speakers[j % len(speakers)], sentences[-1 - (j % len(sentences))]) for j in range(size)]
    return SetPlan(name, speakers, kinds, utterances, babble)


def check_disjoint(plans: Dict[str, SetPlan]) -> None:
    """Assert that speakers and sentences never cross sets and test_ood noise kinds are unseen."""
    names = list(plans)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            spk_a = {s.id for s in plans[a].speakers} | {s.id for s, _ in plans[a].babble}
            spk_b = {s.id for s in plans[b].speakers} | {s.id for s, _ in plans[b].babble}
            shared = spk_a & spk_b
            assert not shared, f"speakers shared by {a} and {b}: {sorted(shared)[:5]}"
            text_a = {u.text for u in plans[a].utterances}
            text_b = {u.text for u in plans[b].utterances}
            assert not text_a & text_b, f"sentences shared by {a} and {b}: {sorted(text_a & text_b)[:3]}"
    if "test_ood" in plans:
        ood = plans["test_ood"]
        assert all(isinstance(s, EspeakSpeaker) for s in ood.speakers), "test_ood must use espeak-ng speakers only"
        for name, plan in plans.items():
            if name != "test_ood":
                assert all(isinstance(s, FliteSpeaker) for s in plan.speakers), f"{name} must use flite speakers only"
                seen = set(plan.noise_kinds) & set(ood.noise_kinds)
                assert not seen, f"noise kinds shared by {name} and test_ood: {sorted(seen)}"


def plan_corpus(options: CorpusOptions, set_names: Sequence[str] = SET_NAMES) -> Dict[str, SetPlan]:
    """Plans of the requested sets (all sets are planned, so disjointness is checked across all)."""
    for name in set_names:
        if name not in SET_NAMES:
            raise ValueError(f"unknown set '{name}'; known: {', '.join(SET_NAMES)}")
    if not 1 <= options.min_words <= options.max_words:
        raise ValueError(f"need 1 <= min_words <= max_words, got {options.min_words}, {options.max_words}")
    if options.snr_low > options.snr_high:
        raise ValueError(f"snr_low {options.snr_low} > snr_high {options.snr_high}")
    for name in SET_NAMES:
        if options.count(name) < 0:
            raise ValueError(f"num_{name} must be >= 0, got {options.count(name)}")
    sentences = load_sentences(min_words=options.min_words, max_words=options.max_words)
    parts = partition(sentences, TEXT_FRACTIONS, options.seed)
    groups = _speaker_groups(options.seed)
    plans = {name: _plan_set(name, options, groups[name], parts[name]) for name in SET_NAMES}
    check_disjoint(plans)
    return {name: plans[name] for name in set_names}
