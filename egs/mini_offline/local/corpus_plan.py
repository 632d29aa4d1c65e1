"""The plan of the offline corpus: who says what, over which noise, at which SNR.

The plan is a pure function of the options (seed, sizes, word and SNR ranges), so a rerun
rebuilds exactly the same corpus, and each set's plan does not depend on the other sets' sizes.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from noises import AMBIENT_KINDS, COLORED_KINDS, OOD_KINDS, REAL_KINDS, TRAIN_KINDS
from real_speech import RealSpeaker, real_speakers
from speakers import FestivalSpeaker, FliteSpeaker, espeak_speakers, festival_speakers, flite_speakers, split_speakers
from text_pool import load_sentences, partition, transcript

SET_NAMES = ("train", "valid", "test", "test_ood", "test_real", "test_ambient", "test_colored")
#: Sets that reuse test_real's held-out speakers (the same utterance plans in both, over other noise).
SAME_SPEECH_SETS = ("test_ambient", "test_colored")
#: SNR range (dB) of SAME_SPEECH_SETS, whatever --snr_low/--snr_high say.
SAME_SPEECH_SNR = (0.0, 20.0)
#: Bump when a change makes existing corpora stale (their markers then stop matching).
CORPUS_VERSION = 5
#: Share of the sentence pool each set draws from (disjoint parts; train takes the rest).
TEXT_FRACTIONS = {"valid": 0.08, "test": 0.08, "test_ood": 0.08, "train": None}
#: flite speakers dealt to the in-domain sets; train takes the rest (195 in all).
FLITE_SPEAKER_COUNTS = (("test", 16), ("valid", 12), ("train", None))
#: espeak-ng speakers (a random subset of its 756-voice grid) dealt to the in-domain sets.
ESPEAK_SPEAKER_COUNTS = (("test", 8), ("valid", 8), ("train", 120))
#: Real recorded speakers held out of training: test_real's are never heard in train, valid or test.
REAL_HELD_OUT = {
    "test_real": ("rk-en", "rk-de", "rk-sl", "rk-el", "rh-british", "rh-surfer"),
    "valid": ("rk-gl", "rk-wa", "rh-pirate"),
    "test": ("rk-ga", "rk-ro", "rk-sr", "rh-mobster"),
}
#: Share of each in-domain set's utterances by speaker type (the rest: espeak-ng).
REAL_SHARE, FLITE_SHARE = 0.4, 0.35
LEVEL_DBFS = (-35.0, -15.0)
PAD_SECONDS = (0.05, 0.3)


@dataclass(frozen=True)
class CorpusOptions:
    """Everything the corpus content depends on."""

    num_train: int = 1500
    num_valid: int = 100
    num_test: int = 100
    num_test_ood: int = 100
    num_test_real: int = 100
    num_test_ambient: int = 100
    num_test_colored: int = 100
    seed: int = 0
    min_words: int = 5
    max_words: int = 11
    snr_low: float = -5.0
    snr_high: float = 20.0
    sample_rate: int = 16000
    babble_pool: int = 48
    #: Share of the train/valid/test/test_ood mixtures whose speech is reverberated (simulated rooms).
    reverb_share: float = 0.25
    #: Dynamic-mixing pools of training: noise clips per training noise kind, and rooms.
    num_noise_clips: int = 30
    noise_clip_seconds: float = 6.0
    num_train_rooms: int = 150

    def count(self, set_name: str) -> int:
        return getattr(self, f"num_{set_name}")


@dataclass(frozen=True)
class UtterancePlan:
    key: str
    speaker: object  # FliteSpeaker | EspeakSpeaker | FestivalSpeaker | RealSpeaker
    sentence: str
    noise_kind: str
    snr_db: float
    level_dbfs: float
    lead_s: float
    trail_s: float
    seed: Tuple[int, ...]
    #: Index into the set's rooms, or -1 for dry speech.
    room: int = -1

    @property
    def text(self) -> Optional[str]:
        """The words spoken, for synthetic speech (real speech carries no transcript)."""
        return None if isinstance(self.speaker, RealSpeaker) else transcript(self.sentence)


@dataclass
class SetPlan:
    name: str
    speakers: List[object]
    noise_kinds: Tuple[str, ...]
    utterances: List[UtterancePlan]
    #: (speaker, sentence) pairs synthesised once to build babble noise from.
    babble: List[Tuple[object, str]] = field(default_factory=list)
    #: Simulated rooms of the set's reverberant utterances (their stream of rooms.simulate_rirs).
    num_rooms: int = 0

    def signature(self, options: CorpusOptions) -> Dict[str, object]:
        """What a finished set's marker records; a mismatch means the set must be rebuilt."""
        sig = {k: v for k, v in asdict(options).items() if not k.startswith("num_")}
        sig.update(version=CORPUS_VERSION, set=self.name, num_utterances=len(self.utterances))
        return sig


def _set_rng(options: CorpusOptions, set_name: str, stream: int) -> np.random.Generator:
    return np.random.default_rng([options.seed, SET_NAMES.index(set_name), stream])


def _speaker_groups(seed: int) -> Dict[str, List[object]]:
    groups = {name: [] for name in SET_NAMES}
    for name, speakers in split_speakers(flite_speakers(), FLITE_SPEAKER_COUNTS, seed).items():
        groups[name] += speakers
    espeak = espeak_speakers()
    order = np.random.default_rng([seed, 13]).permutation(len(espeak))[: sum(c for _, c in ESPEAK_SPEAKER_COUNTS)]
    start = 0
    for name, count in ESPEAK_SPEAKER_COUNTS:
        groups[name] += [espeak[i] for i in order[start : start + count]]
        start += count
    held_out = {spk: name for name, ids in REAL_HELD_OUT.items() for spk in ids}
    for speaker in real_speakers():
        groups[held_out.get(speaker.id, "train")].append(speaker)
    groups["test_ood"] = festival_speakers()
    for name in SAME_SPEECH_SETS:
        groups[name] = list(groups["test_real"])
    return groups


def _speaker_order(name: str, speakers: List[object], count: int, rng: np.random.Generator) -> List[object]:
    """Which speaker says each utterance: the set's speaker types in their shares, speakers in turn."""
    real = [s for s in speakers if isinstance(s, RealSpeaker)]
    flite = [s for s in speakers if isinstance(s, FliteSpeaker)]
    other = [s for s in speakers if not isinstance(s, (RealSpeaker, FliteSpeaker))]
    pools = [(pool, share) for pool, share in ((real, REAL_SHARE), (flite, FLITE_SHARE), (other, 1 - REAL_SHARE - FLITE_SHARE)) if pool]
    total = sum(share for _, share in pools)
    order: List[object] = []
    for pool, share in pools:
        n = int(round(count * share / total))
        order += [pool[i % len(pool)] for i in range(n)]
    order = (order + [pools[0][0][i % len(pools[0][0])] for i in range(count)])[:count]
    return [order[i] for i in rng.permutation(count)]


#: Noise kinds and whether speech is reverberated, per set.
SET_KINDS = {"train": TRAIN_KINDS, "valid": TRAIN_KINDS, "test": TRAIN_KINDS, "test_ood": OOD_KINDS, "test_real": REAL_KINDS,
             "test_ambient": AMBIENT_KINDS, "test_colored": COLORED_KINDS}
REVERBERANT_SETS = ("valid", "test", "test_ood")  # train is reverberated by dynamic mixing instead


def _plan_same_speech(name: str, options: CorpusOptions, speakers: List[object]) -> SetPlan:
    """test_ambient / test_colored: utterance i has the same speaker, clips, level and padding in both
    sets (for any set sizes); the noise kind and SNR are the set's own."""
    count, kinds = options.count(name), SET_KINDS[name]
    rng = _set_rng(options, name, 0)
    noise_order = rng.permutation(np.resize(np.arange(len(kinds)), count)) if count else []
    utterances = []
    for i in range(count):
        block = np.random.default_rng([options.seed, 41, i // len(speakers)]).permutation(len(speakers))
        speaker = speakers[int(block[i % len(speakers)])]
        speech_rng = np.random.default_rng([options.seed, 42, i])
        utterances.append(
            UtterancePlan(
                key=f"{speaker.id}-{name}{i:05d}",
                speaker=speaker,
                sentence=speaker.draw_sentence(speech_rng),
                noise_kind=kinds[int(noise_order[i])],
                snr_db=round(float(rng.uniform(*SAME_SPEECH_SNR)), 3),
                level_dbfs=round(float(speech_rng.uniform(*LEVEL_DBFS)), 3),
                lead_s=round(float(speech_rng.uniform(*PAD_SECONDS)), 3),
                trail_s=round(float(speech_rng.uniform(*PAD_SECONDS)), 3),
                seed=(options.seed, SET_NAMES.index(name), i),
            )
        )
    return SetPlan(name, speakers, kinds, utterances)


def _plan_set(name: str, options: CorpusOptions, speakers: List[object], sentences: List[str]) -> SetPlan:
    if name in SAME_SPEECH_SETS:
        return _plan_same_speech(name, options, speakers)
    count = options.count(name)
    kinds = SET_KINDS[name]
    rng = _set_rng(options, name, 0)
    noise_order = rng.permutation(np.resize(np.arange(len(kinds)), count)) if count else []
    who = _speaker_order(name, speakers, count, _set_rng(options, name, 1))
    text_rng = _set_rng(options, name, 2)
    num_rooms = 0
    utterances = []
    for i in range(count):
        speaker = who[i]
        real = isinstance(speaker, RealSpeaker)
        sentence = speaker.draw_sentence(text_rng) if real else sentences[i % len(sentences)]
        room = -1
        if name in REVERBERANT_SETS and rng.random() < options.reverb_share:
            room, num_rooms = num_rooms, num_rooms + 1
        utterances.append(
            UtterancePlan(
                key=f"{speaker.id}-{name}{i:05d}",
                speaker=speaker,
                sentence=sentence,
                noise_kind=kinds[int(noise_order[i])],
                snr_db=round(float(rng.uniform(options.snr_low, options.snr_high)), 3),
                level_dbfs=round(float(rng.uniform(*LEVEL_DBFS)), 3),
                lead_s=round(float(rng.uniform(*PAD_SECONDS)), 3),
                trail_s=round(float(rng.uniform(*PAD_SECONDS)), 3),
                seed=(options.seed, SET_NAMES.index(name), i),
                room=room,
            )
        )
    babble = []
    if "babble" in kinds and count:
        size = min(options.babble_pool, max(8, 2 * count))
        # babble talkers: the set's own speakers; synthetic ones speak sentences from the end of its text part
        babble_rng = _set_rng(options, name, 3)
        for j in range(size):
            talker = speakers[j % len(speakers)]
            text = talker.draw_sentence(babble_rng) if isinstance(talker, RealSpeaker) else sentences[-1 - (j % len(sentences))]
            babble.append((talker, text))
    return SetPlan(name, speakers, kinds, utterances, babble, num_rooms)


def check_disjoint(plans: Dict[str, SetPlan]) -> None:
    """Assert that speakers and sentences never cross sets (except test_real's speakers, which
    test_ambient and test_colored reuse), held-out noise kinds are unseen in training, test_ood is
    Festival only and test_real (and its two siblings) real speakers only."""
    names = list(plans)
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            if {a, b} <= {"test_real", *SAME_SPEECH_SETS}:
                continue  # the same held-out speakers by design
            spk_a = {s.id for s in plans[a].speakers} | {s.id for s, _ in plans[a].babble}
            spk_b = {s.id for s in plans[b].speakers} | {s.id for s, _ in plans[b].babble}
            shared = spk_a & spk_b
            assert not shared, f"speakers shared by {a} and {b}: {sorted(shared)[:5]}"
            text_a = {u.text for u in plans[a].utterances if u.text is not None}
            text_b = {u.text for u in plans[b].utterances if u.text is not None}
            assert not text_a & text_b, f"sentences shared by {a} and {b}: {sorted(text_a & text_b)[:3]}"
    if "test_ood" in plans:
        assert all(isinstance(s, FestivalSpeaker) for s in plans["test_ood"].speakers), "test_ood must use Festival speakers only"
    if "test_real" in plans:
        assert all(isinstance(s, RealSpeaker) for s in plans["test_real"].speakers), "test_real must use real speakers only"
    for name in SAME_SPEECH_SETS:
        if name in plans and "test_real" in plans:
            assert {s.id for s in plans[name].speakers} == {s.id for s in plans["test_real"].speakers}, \
                f"{name} must use test_real's speakers"
    for held_out in ("test_ood", "test_real", *SAME_SPEECH_SETS):
        if held_out not in plans:
            continue
        for name in ("train", "valid", "test"):
            if name in plans:
                seen = set(plans[name].noise_kinds) & set(plans[held_out].noise_kinds)
                assert not seen, f"noise kinds shared by {name} and {held_out}: {sorted(seen)}"


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
    plans = {name: _plan_set(name, options, groups[name], parts.get(name, [])) for name in SET_NAMES}
    check_disjoint(plans)
    return {name: plans[name] for name in set_names}
