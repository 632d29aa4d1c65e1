"""Text normalisation applied alike to references and hypotheses before WER/CER.

:func:`normalize_text` maps a transcript to upper-case words separated by single spaces:

1. Unicode NFKC; typographic apostrophes (``’ ‘ ʼ``` and the acute accent) become ``'``.
2. Markup tokens are dropped: ``<unk>``, ``<sil>``, ``[noise]``, ``{breath}``, ``(2)``.
3. Numbers become words (``num2words``, English): ``42`` -> ``FORTY TWO``, ``1,000`` ->
   ``ONE THOUSAND``, ``3.5`` -> ``THREE POINT FIVE``, ``21st`` -> ``TWENTY FIRST``; the "and" of
   British readings is left out (``105`` -> ``ONE HUNDRED FIVE``), as US recognisers write it.
   ``%`` -> ``PERCENT``, ``&`` -> ``AND``.
4. Apostrophes are kept inside words (``DON'T``, ``O'CLOCK``) and removed elsewhere (quotes,
   ``JAMES'`` -> ``JAMES``).
5. Hyphens, slashes and every other punctuation or symbol become spaces (``E-MAIL`` ->
   ``E MAIL``); letters are upper-cased; runs of whitespace collapse to one space.

Words are not spelled-corrected or split (``TODAY`` and ``TO DAY`` stay different).
"""
from __future__ import annotations

import re
import unicodedata

_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u00b4": "'", "`": "'"})
_MARKUP = re.compile(r"<[^<>\s]*>|\[[^\[\]]*\]|\{[^{}]*\}|\(\d+\)")
_ORDINAL = re.compile(r"\b(\d+)(st|nd|rd|th)\b", re.IGNORECASE)
_DECIMAL = re.compile(r"(?<![\d.])(\d+)\.(\d+)(?![\d.])")
_THOUSANDS = re.compile(r"\b\d{1,3}(?:,\d{3})+\b")
_INTEGER = re.compile(r"\d+")
_SYMBOLS = {"%": " percent ", "&": " and "}
_INNER_APOSTROPHE = re.compile(r"(?<=\w)'(?=\w)")
_NOT_WORD = re.compile(r"[^\w\0]+|_")
#: Longer digit strings (ids, phone numbers) are read digit by digit.
_MAX_CARDINAL_DIGITS = 15


def _words(number_text: str, to: str = "cardinal") -> str:
    """``num2words`` without its commas, hyphens and British 'and' (``one hundred five``)."""
    if len(number_text) > _MAX_CARDINAL_DIGITS:
        return " " + " ".join(_words(digit).strip() for digit in number_text) + " "
    from num2words import num2words  # the 'asr' extra: imported on use

    spoken = num2words(int(number_text), lang="en", to=to)
    spoken = spoken.replace(",", " ").replace("-", " ")
    return " " + re.sub(r"\band\b", " ", spoken) + " "


def _decimal(match: re.Match) -> str:
    digits = " ".join(_words(d).strip() for d in match.group(2))
    return f"{_words(match.group(1))} point {digits} "


def numbers_to_words(text: str) -> str:
    """Spell out ordinals, decimals, thousands-separated and plain integers."""
    text = _ORDINAL.sub(lambda m: _words(m.group(1), "ordinal"), text)
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(",", ""), text)
    text = _DECIMAL.sub(_decimal, text)
    return _INTEGER.sub(lambda m: _words(m.group(0)), text)


def normalize_text(text: str) -> str:
    """Upper-case words for scoring; identical inputs up to case, punctuation, number format,
    apostrophe style and spacing give identical outputs (see the module docstring)."""
    text = unicodedata.normalize("NFKC", text).translate(_APOSTROPHES)
    text = _MARKUP.sub(" ", text)
    text = numbers_to_words(text)
    for symbol, spoken in _SYMBOLS.items():
        text = text.replace(symbol, spoken)
    text = _INNER_APOSTROPHE.sub("\0", text)  # protect in-word apostrophes from the next step
    text = _NOT_WORD.sub(" ", text.replace("'", " ")).replace("\0", "'")
    return " ".join(text.upper().split())
