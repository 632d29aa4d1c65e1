"""normalize_text: the same words up to case, punctuation, numbers, apostrophes and spacing."""
from __future__ import annotations

import pytest

from mal.asr import normalize_text, word_errors


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Hello, World!", "HELLO WORLD"),
        ("  several   spaces\tand\ttabs \n", "SEVERAL SPACES AND TABS"),
        ("don't", "DON'T"),
        ("DON’T", "DON'T"),  # typographic apostrophe
        ("'quoted' words", "QUOTED WORDS"),
        ("James' book", "JAMES BOOK"),
        ("rock'n'roll", "ROCK'N'ROLL"),
        ("e-mail and/or fax", "E MAIL AND OR FAX"),
        ("We need 12 new chairs.", "WE NEED TWELVE NEW CHAIRS"),
        ("105 apples", "ONE HUNDRED FIVE APPLES"),
        ("1,000 pears", "ONE THOUSAND PEARS"),
        ("the 21st century", "THE TWENTY FIRST CENTURY"),
        ("3.5 litres", "THREE POINT FIVE LITRES"),
        ("50% & more", "FIFTY PERCENT AND MORE"),
        ("<unk> hello [noise] world {breath} the(2)", "HELLO WORLD THE"),
        ("...", ""),
        ("", ""),
    ],
)
def test_normalisation_cases(text, expected):
    assert normalize_text(text) == expected


def test_reference_and_hypothesis_styles_meet():
    """A corpus-style reference and a recogniser-style hypothesis of the same words: no error."""
    reference = "We need 12 new chairs for the meeting-room, don’t we?"
    hypothesis = "we need twelve new chairs for the meeting room don't we"
    assert normalize_text(reference) == normalize_text(hypothesis)
    assert word_errors(normalize_text(reference), normalize_text(hypothesis)).errors == 0


def test_normalisation_is_idempotent():
    for text in ("It's 3.5% of 1,000 e-mails!", "The 2nd (2) <sil> TIME"):
        once = normalize_text(text)
        assert normalize_text(once) == once
