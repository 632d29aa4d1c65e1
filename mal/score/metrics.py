"""Per-utterance speech-enhancement metrics through the standard packages.

Metric names (``--metrics`` of mal-score):

============  =========================================================================
pesq_wb       ITU-T P.862.2 wideband PESQ, MOS-LQO (``pesq``; 16 kHz, other rates resampled)
pesq_nb       ITU-T P.862 narrowband PESQ mapped by P.862.1 to MOS-LQO (8 or 16 kHz)
stoi, estoi   (extended) short-time objective intelligibility (``pystoi``)
sisdr         scale-invariant SDR in dB (zero-mean signals; Le Roux et al. 2019)
snr           SNR in dB of the estimate against the reference
segsnr        segmental SNR in dB (30 ms frames, clipped to [-10, 35] dB; as composite.m)
csig, cbak,   composite measures of Hu and Loizou (``mal.score.composite``)
covl
dnsmos_sig,   DNSMOS P.835 (``mal.score.dnsmos``); non-intrusive: no reference needed
dnsmos_bak,
dnsmos_ovrl
============  =========================================================================

A metric that cannot be computed for an utterance (PESQ's "no utterances detected", a silent
signal, a non-finite result) is a *failure with a reason*, never a number: callers record
``key metric reason`` and leave it out of every mean. Reference and estimate may differ in
length by at most ``length_tolerance`` samples (default 256, one STFT hop of 16 ms at 16 kHz);
both are then trimmed to the shorter. A larger difference is an error naming the utterance.
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, Iterable, Iterator, List, Mapping, MutableMapping, Optional, Sequence, Tuple

import numpy as np

INTRUSIVE_METRICS: Tuple[str, ...] = (
    "pesq_wb", "pesq_nb", "stoi", "estoi", "sisdr", "snr", "segsnr", "csig", "cbak", "covl",
)
NONINTRUSIVE_METRICS: Tuple[str, ...] = ("dnsmos_sig", "dnsmos_bak", "dnsmos_ovrl")
ALL_METRICS: Tuple[str, ...] = INTRUSIVE_METRICS + NONINTRUSIVE_METRICS
#: Metrics computed together: one failure fails all requested members of the group.
COMPOSITE_GROUP = ("csig", "cbak", "covl")
DNSMOS_GROUP = NONINTRUSIVE_METRICS
DEFAULT_LENGTH_TOLERANCE = 256
#: Peak amplitude under which a signal counts as silent (half a 16-bit step).
SILENCE_PEAK = 1.5e-5


class MetricError(ValueError):
    """One metric failed for one utterance; ``reason`` is a single line."""

    def __init__(self, metric: str, reason: str, key: Optional[str] = None):
        self.metric = metric
        self.reason = " ".join(str(reason).split()) or "unknown error"
        self.key = key
        where = f"utterance '{key}': " if key else ""
        super().__init__(f"{where}{metric}: {self.reason}")


class LengthMismatchError(ValueError):
    """Reference and estimate lengths differ by more than the tolerance."""


def parse_metrics(spec: Iterable[str] | str) -> List[str]:
    """Validate metric names (a comma-separated string or a sequence); keeps order, drops repeats."""
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    out: List[str] = []
    for name in (n.strip() for n in names):
        if not name:
            continue
        if name not in ALL_METRICS:
            raise ValueError(f"unknown metric '{name}'; choose from: {','.join(ALL_METRICS)}")
        if name not in out:
            out.append(name)
    if not out:
        raise ValueError("no metric given")
    return out


def match_lengths(
    reference: np.ndarray, estimate: np.ndarray, tolerance: int = DEFAULT_LENGTH_TOLERANCE, key: Optional[str] = None
) -> Tuple[np.ndarray, np.ndarray]:
    """Trim both signals to the shorter length if they differ by at most ``tolerance`` samples."""
    diff = abs(len(reference) - len(estimate))
    if diff > tolerance:
        where = f"utterance '{key}'" if key else "signals"
        raise LengthMismatchError(
            f"{where}: reference has {len(reference)} samples, estimate {len(estimate)} "
            f"(differ by {diff} > tolerance {tolerance}); check that both scp files list the same audio"
        )
    n = min(len(reference), len(estimate))
    return reference[:n], estimate[:n]


def _is_silent(signal: np.ndarray) -> bool:
    return signal.size == 0 or float(np.max(np.abs(signal))) < SILENCE_PEAK


class _Pair:
    """One utterance's signals with resampled copies cached (PESQ and DNSMOS need 8/16 kHz)."""

    def __init__(self, reference: Optional[np.ndarray], estimate: np.ndarray, sample_rate: int):
        self.reference = None if reference is None else np.asarray(reference, dtype=np.float64)
        self.estimate = np.asarray(estimate, dtype=np.float64)
        self.sample_rate = sample_rate
        self._cache: Dict[Tuple[str, int], np.ndarray] = {}
        self.shared: Dict[str, float] = {}

    def at_rate(self, which: str, rate: int) -> np.ndarray:
        signal = getattr(self, which)
        if rate == self.sample_rate:
            return signal
        if (which, rate) not in self._cache:
            from mal.io.audio import resample

            self._cache[(which, rate)] = resample(signal.astype(np.float32), self.sample_rate, rate).astype(np.float64)
        return self._cache[(which, rate)]

    def pesq_rate(self, mode: str) -> int:
        if mode == "wb":
            if self.sample_rate < 16000:
                raise ValueError(f"wideband PESQ needs audio of 16 kHz or more, got {self.sample_rate} Hz")
            return 16000
        return 8000 if self.sample_rate <= 8000 else 16000


def _pesq(pair: _Pair, mode: str) -> float:
    from pesq import pesq

    rate = pair.pesq_rate(mode)
    ref, est = pair.at_rate("reference", rate), pair.at_rate("estimate", rate)
    n = min(len(ref), len(est))
    return float(pesq(rate, ref[:n], est[:n], mode))


def _pesq_nb(pair: _Pair) -> Dict[str, float]:
    if "pesq_nb" not in pair.shared:
        pair.shared["pesq_nb"] = _pesq(pair, "nb")
    return {"pesq_nb": pair.shared["pesq_nb"]}


def _stoi(pair: _Pair, extended: bool) -> float:
    from pystoi import stoi

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(stoi(pair.reference, pair.estimate, pair.sample_rate, extended=extended))
    if any("STFT frames" in str(w.message) for w in caught):
        raise ValueError("too few non-silent frames in the reference (pystoi would return 1e-5)")
    return value


def sisdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant SDR (dB) of zero-mean signals; eps-regularised as in torchmetrics."""
    eps = float(np.finfo(np.float64).eps)
    ref = reference - np.mean(reference)
    est = estimate - np.mean(estimate)
    alpha = (np.dot(est, ref) + eps) / (np.dot(ref, ref) + eps)
    target = alpha * ref
    noise = target - est
    return float(10.0 * np.log10((np.dot(target, target) + eps) / (np.dot(noise, noise) + eps)))


def snr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """SNR (dB) of the estimate, treating ``estimate - reference`` as noise."""
    eps = float(np.finfo(np.float64).eps)
    noise = estimate - reference
    return float(10.0 * np.log10((np.dot(reference, reference) + eps) / (np.dot(noise, noise) + eps)))


def _composite(pair: _Pair) -> Dict[str, float]:
    from mal.score.composite import composite, mos_lqo_to_raw_pesq

    rate = pair.pesq_rate("nb")
    raw = mos_lqo_to_raw_pesq(_pesq_nb(pair)["pesq_nb"])
    scores = composite(pair.at_rate("reference", rate), pair.at_rate("estimate", rate), rate, raw_pesq=raw)
    return {name: scores[name] for name in COMPOSITE_GROUP}


def _segsnr(pair: _Pair) -> float:
    from mal.score.composite import segmental_snr

    return segmental_snr(pair.reference, pair.estimate, pair.sample_rate)


def _dnsmos(pair: _Pair) -> Dict[str, float]:
    from mal.score.dnsmos import SAMPLE_RATE, dnsmos

    scores = dnsmos(pair.at_rate("estimate", SAMPLE_RATE).astype(np.float32), SAMPLE_RATE)
    return {f"dnsmos_{name}": value for name, value in scores.items()}


#: metric -> (metrics it produces, function of the pair)
_COMPUTERS: Dict[str, Tuple[Tuple[str, ...], Callable[[_Pair], Dict[str, float]]]] = {
    "pesq_wb": (("pesq_wb",), lambda p: {"pesq_wb": _pesq(p, "wb")}),
    "pesq_nb": (("pesq_nb",), _pesq_nb),
    "stoi": (("stoi",), lambda p: {"stoi": _stoi(p, extended=False)}),
    "estoi": (("estoi",), lambda p: {"estoi": _stoi(p, extended=True)}),
    "sisdr": (("sisdr",), lambda p: {"sisdr": sisdr(p.reference, p.estimate)}),
    "snr": (("snr",), lambda p: {"snr": snr(p.reference, p.estimate)}),
    "segsnr": (("segsnr",), lambda p: {"segsnr": _segsnr(p)}),
    **{name: (COMPOSITE_GROUP, _composite) for name in COMPOSITE_GROUP},
    **{name: (DNSMOS_GROUP, _dnsmos) for name in DNSMOS_GROUP},
}


def _describe(error: Exception) -> str:
    """``Type: message`` with bytes messages (the pesq package's) decoded."""
    message = error.args[0] if len(error.args) == 1 else error
    if isinstance(message, bytes):
        message = message.decode(errors="replace")
    return f"{type(error).__name__}: {message}"


def _fail(metric: str, reason: str, key: Optional[str], failures: Optional[MutableMapping[str, str]]) -> None:
    if failures is None:
        raise MetricError(metric, reason, key)
    failures[metric] = MetricError(metric, reason).reason


def _score(
    pair: _Pair, metrics: Sequence[str], key: Optional[str], failures: Optional[MutableMapping[str, str]]
) -> Dict[str, float]:
    metrics = parse_metrics(metrics)
    scores: Dict[str, float] = {}
    done: set = set()
    silent = {"estimate": _is_silent(pair.estimate)}
    if pair.reference is not None:
        silent["reference"] = _is_silent(pair.reference)
    for metric in metrics:
        if metric in done:
            continue
        group, compute = _COMPUTERS[metric]
        wanted = [m for m in group if m in metrics]
        done.update(group)
        needs = ("estimate",) if metric in NONINTRUSIVE_METRICS else ("reference", "estimate")
        reason = next((f"{which} is silent (peak below {SILENCE_PEAK:g})" for which in needs if silent[which]), None)
        if reason is None:
            try:
                values = compute(pair)
                bad = [m for m in wanted if not np.isfinite(values[m])]
                reason = f"result is not finite ({values[bad[0]]})" if bad else None
            except Exception as e:  # the metric packages raise many types; each is a per-metric failure
                reason = _describe(e)
        for name in wanted:
            if reason is None:
                scores[name] = float(values[name])
            else:
                _fail(name, reason, key, failures)
    return scores


def score_pair(
    reference: np.ndarray,
    estimate: np.ndarray,
    sample_rate: int,
    metrics: Sequence[str],
    *,
    key: Optional[str] = None,
    failures: Optional[MutableMapping[str, str]] = None,
    length_tolerance: int = DEFAULT_LENGTH_TOLERANCE,
) -> Dict[str, float]:
    """Score ``estimate`` against ``reference`` (1-D, same rate) on ``metrics``.

    Non-intrusive metrics (dnsmos_*) may be mixed in; they use the estimate only. With
    ``failures`` (a dict), a failed metric is recorded there as ``metric -> reason`` and left out
    of the result; without it the first failure raises :class:`MetricError`. Lengths must agree
    within ``length_tolerance`` samples (both are trimmed), else :class:`LengthMismatchError`.
    """
    if reference is None:
        raise ValueError("score_pair needs a reference; use score_nonintrusive without one")
    reference, estimate = match_lengths(np.asarray(reference), np.asarray(estimate), length_tolerance, key)
    return _score(_Pair(reference, estimate, sample_rate), metrics, key, failures)


def score_nonintrusive(
    estimate: np.ndarray,
    sample_rate: int,
    metrics: Sequence[str],
    *,
    key: Optional[str] = None,
    failures: Optional[MutableMapping[str, str]] = None,
) -> Dict[str, float]:
    """Score ``estimate`` alone on non-intrusive metrics (dnsmos_*); failures as in score_pair."""
    metrics = parse_metrics(metrics)
    intrusive = [m for m in metrics if m not in NONINTRUSIVE_METRICS]
    if intrusive:
        raise ValueError(f"metrics {','.join(intrusive)} need a reference signal")
    return _score(_Pair(None, np.asarray(estimate), sample_rate), metrics, key, failures)


def needs_reference(metrics: Sequence[str]) -> bool:
    """Whether any of ``metrics`` compares against a reference."""
    return any(m not in NONINTRUSIVE_METRICS for m in metrics)


def _read_scored(entry: str, sample_rate: Optional[int], resample: bool, key: str, table: str) -> Tuple[np.ndarray, int]:
    """read_audio, with the table's name in front of any AudioError (which names the key)."""
    from mal.io.audio import AudioError, read_audio

    try:
        return read_audio(entry, sample_rate, resample, key=key)
    except AudioError as e:
        raise AudioError(f"{table}: {e}") from None


def score_tables(
    estimates: Mapping[str, str],
    metrics: Sequence[str],
    references: Optional[Mapping[str, str]] = None,
    keys: Optional[Sequence[str]] = None,
    sample_rate: Optional[int] = None,
    length_tolerance: int = DEFAULT_LENGTH_TOLERANCE,
    est_name: str = "estimate scp",
    ref_name: str = "reference scp",
) -> Iterator[Tuple[str, Dict[str, float], Dict[str, str]]]:
    """Score wav.scp-style tables key by key; yields ``(key, scores, failures)``.

    ``keys`` default to the estimate table's. A key missing from a table, unreadable audio,
    differing sample rates (unless ``sample_rate`` resamples both) or a length mismatch raise
    an error naming the table and the key.
    """
    metrics = parse_metrics(metrics)
    if needs_reference(metrics) and references is None:
        intrusive = ",".join(m for m in metrics if m not in NONINTRUSIVE_METRICS)
        raise ValueError(f"metrics {intrusive} need a reference (--ref-scp)")
    resample = sample_rate is not None
    for key in list(keys) if keys is not None else list(estimates):
        if key not in estimates:
            raise KeyError(f"{est_name}: key '{key}' missing")
        est, est_rate = _read_scored(estimates[key], sample_rate, resample, key, est_name)
        failures: Dict[str, str] = {}
        if references is None:
            yield key, score_nonintrusive(est, est_rate, metrics, key=key, failures=failures), failures
            continue
        if key not in references:
            raise KeyError(f"{ref_name}: key '{key}' missing")
        ref, ref_rate = _read_scored(references[key], sample_rate, resample, key, ref_name)
        if ref_rate != est_rate:
            raise ValueError(
                f"{est_name}: utterance '{key}': reference is {ref_rate} Hz, estimate {est_rate} Hz (use --sample-rate to resample both)"
            )
        try:
            scores = score_pair(ref, est, est_rate, metrics, key=key, failures=failures, length_tolerance=length_tolerance)
        except LengthMismatchError as e:
            raise LengthMismatchError(f"{est_name}: {e}") from None
        yield key, scores, failures
