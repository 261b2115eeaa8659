"""Segmentation into release units: words, dense scripts, grapheme clusters."""

from __future__ import annotations

import regex
from hypothesis import given
from hypothesis import strategies as st

from tokentide.render._segment import _fallback_spans, grapheme_spans, unit_ends

KOREAN = (
    "LLM은 한 번에 전체 답변을 생성하는 것이 아니라, **토큰(token)** 단위로 한 단어씩 예측하여 "
    "출력합니다. 이 과정에서 Streaming 기능을 활용하면 모델이 예측한 토큰을 즉시 사용자에게 "
    "전달할 수 있습니다."
)
JAPANESE = "今日はいい天気ですね。散歩に行きましょう、公園まで！"
CHINESE = "模型逐个生成词元，然后立即显示给用户。这样体验更好！"
EMOJI = "Family 👩‍👩‍👧‍👦 waves 👋🏽, flags 🇰🇷🇯🇵 and keycap 1️⃣ "
COMBINING = "Cafe\u0301 nai\u0308ve re\u0301sume\u0301 "


def units(text: str) -> list[str]:
    ends = list(unit_ends(text, 0, len(text), final=True))
    return [text[a:b] for a, b in zip([0, *ends], ends, strict=False)]


def test_latin_words_keep_trailing_whitespace() -> None:
    assert units("Hello big  world\n\nBye") == ["Hello ", "big  ", "world\n\n", "Bye"]


def test_incomplete_word_is_not_a_unit() -> None:
    assert list(unit_ends("Hello wor", 0, 9, final=False)) == [6]
    assert list(unit_ends("Hello ", 0, 6, final=False)) == []  # is more space coming?


def test_korean_is_paced_at_spaces() -> None:
    pieces = units(KOREAN)
    assert "".join(pieces) == KOREAN
    assert pieces[:3] == ["LLM은 ", "한 ", "번에 "]
    assert all(p.endswith(" ") for p in pieces[:-1])


def test_japanese_and_chinese_in_small_units_breaking_after_punctuation() -> None:
    assert units(JAPANESE) == [
        "今日は", "いい天", "気です", "ね。", "散歩に", "行きま", "しょう、", "公園ま", "で！",
    ]  # fmt: skip
    pieces = units(CHINESE)
    assert "".join(pieces) == CHINESE
    assert all(1 <= len(p) <= 4 for p in pieces)
    assert "词元，" in pieces and "给用户。" in pieces


def test_emoji_sequences_and_combining_marks_stay_whole() -> None:
    assert units(EMOJI) == [
        "Family ", "👩‍👩‍👧‍👦 ", "waves ", "👋🏽, ", "flags ", "🇰🇷🇯🇵 ", "and ", "keycap ", "1️⃣ ",
    ]  # fmt: skip
    assert units(COMBINING) == ["Cafe\u0301 ", "nai\u0308ve ", "re\u0301sume\u0301 "]


def test_mixed_scripts_break_at_script_changes() -> None:
    assert units("使用Python来说") == ["使用", "Python", "来说"]


SAMPLES = [KOREAN, JAPANESE, CHINESE, EMOJI, COMBINING, "a\r\nb", "🏳️‍🌈🏴󠁧󠁢󠁳󠁣󠁴󠁿", "각\u1100\u1161\u11a8"]


def test_fallback_segmentation_matches_regex_on_samples() -> None:
    for text in SAMPLES:
        expected = [m.span() for m in regex.finditer(r"\X", text)]
        assert list(_fallback_spans(text, 0, len(text))) == expected, text


@given(st.text(max_size=60))
def test_units_cover_the_text_on_grapheme_boundaries(text: str) -> None:
    bounds = {0, *(end for _, end in grapheme_spans(text))}
    pieces = units(text)
    assert "".join(pieces) == text
    offset = 0
    for piece in pieces:
        offset += len(piece)
        assert offset in bounds
