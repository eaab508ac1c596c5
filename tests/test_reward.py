"""The caption reward and the SFT targets, which need neither TRL nor PEFT: exact reward
values, one judge call per step, judge failures, and targets that state only what is there."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmark import CANNOT_DETERMINE, QA, CapEvalSample, Concept, ImageData
from covip_eval.errors import CovipError
from covip_eval.judges.lexical import LexicalJudge
from coviP_train.reward import CaptionReward, RewardWeights, repeats_itself


def _qa(n: int, options: tuple[str, str, str]) -> QA:
    return QA(f"q{n}", f"Question {n} about Ashby?", (*options, CANNOT_DETERMINE), "A")


POS = [_qa(1, ("Lisbon", "Kyoto", "Oslo")), _qa(2, ("pancakes", "sorbet", "fudge")),
       _qa(3, ("a kite festival", "a meteor shower", "a flash mob"))]
NEG = [_qa(4, ("Bergen", "Madrid", "Napa")), _qa(5, ("violin", "bicycle", "scarf"))]


def _sample() -> CapEvalSample:
    image = ImageData(b"not decoded by the reward")
    present = Concept("Ashby", "pet", image, "User: hi\nModel: hello", qas=tuple(POS))
    absent = Concept("Brook", "pet", image, "User: hi\nModel: hello", qas=tuple(NEG))
    return CapEvalSample("s1", image, (present, absent), (0,))


@pytest.fixture
def reward() -> CaptionReward:
    return CaptionReward(LexicalJudge(), RewardWeights(), max_completion_length=50,
                         samples={"s1": _sample()})


@pytest.mark.parametrize(("caption", "ids", "expected"), [
    ("Ashby and I went to Lisbon, ate pancakes and watched a kite festival.", 10,
     (1.0, 0.0, 0.0)),
    ("Ashby and I went to Kyoto, ate sorbet and saw a meteor shower.", 10, (0.0, 0.0, 0.0)),
    ("Ashby went to Lisbon. Later, Brook went to Bergen.", 10, (1 / 3, -0.5, 0.0)),
    ("Lisbon went Ashby. Later, Bergen.", 10, (1 / 3, 0.0, 0.0)),  # Bergen is Ashby's here
    ("Ashby Lisbon " * 6, 10, (1 / 3, 0.0, -1.0)),
    ("Ashby: Lisbon.", 50, (1 / 3, 0.0, -1.0)),
    ("", 1, (0.0, 0.0, -1.0)),  # an empty caption says nothing: degenerate, not merely 0
    (" \n ", 2, (0.0, 0.0, -1.0)),
])
def test_reward_values(reward: CaptionReward, caption: str, ids: int, expected) -> None:
    terms = reward.terms([caption], ["s1"], [[0] * ids])[0]
    assert terms == pytest.approx(expected)


def test_reward_functions_share_one_judge_call(reward: CaptionReward) -> None:
    calls = []
    judge = reward.judge
    reward.judge = type("Counting", (), {"grade": lambda self, items: calls.append(
        len(items)) or judge.grade(items)})()
    funcs = reward.reward_functions()
    completions = [[{"role": "assistant", "content": "Ashby went to Lisbon."}]] * 4
    column = ["s1"] * 4
    values = [f(None, completions, column, [[0] * 5] * 4) for f in funcs]
    assert [f.__name__ for f in funcs] == ["reward_positive", "reward_negative",
                                           "reward_degenerate"]
    assert values[0] == [pytest.approx(1 / 3)] * 4 and calls == [5]  # identical captions: one


def test_repetition() -> None:
    assert repeats_itself("la la la la la la la la la la la la la la", 0.5)
    assert not repeats_itself("A quiet photo of a red robot beside a blue car in a garden.", 0.5)


def test_sft_targets_state_present_facts_and_nothing_absent(small_dataset: Path) -> None:
    from benchmark import load_benchmark
    from coviP_train.sft import caption_target, direct_target

    for sample in load_benchmark(str(small_dataset), "capeval_qa").samples:
        caption = caption_target(sample)
        for k, concept in enumerate(sample.context):
            if k in sample.positive_indices:
                assert concept.name in caption
                assert all(fact in caption for fact in concept.facts.values())
            else:
                assert concept.name not in caption
    lsd = load_benchmark(str(small_dataset), "lsd").samples[0]
    assert direct_target(lsd).endswith(f"\\boxed{{{lsd.answer}}}")
    itr = load_benchmark(str(small_dataset), "itr").samples[0]
    assert itr.keyword in direct_target(itr)


class _FailingJudge:
    """Fails the call on captions mentioning 'storm', gives no boxed answer on 'fog'."""

    def grade(self, items):
        return [self._one(item.fields["caption"]) for item in items]

    @staticmethod
    def _one(caption: str):
        from covip_eval.judges import Verdict

        if "storm" in caption:
            return Verdict(None, "", "judge call failed: HTTP 500", call_failed=True)
        if "fog" in caption:
            return Verdict(None, "", "judge reply has no boxed answer")
        return Verdict("D", "\\boxed{D}")


def test_judge_failures_give_no_reward_and_too_many_stop_the_step() -> None:
    reward = CaptionReward(_FailingJudge(), RewardWeights(), max_completion_length=50,
                           samples={"s1": _sample()}, max_failure_rate=0.7)
    terms = reward.terms(["a storm", "some fog", "a calm day"], ["s1"] * 3, None)
    assert terms[0] == terms[1] == (None, None, None)
    assert terms[2] == (0.0, 0.0, 0.0)  # judged: no correct answer, nothing leaked
    assert reward.step_failures[-1] == {"captions": 3, "judge_failures": 1, "parse_failures": 1}
    with pytest.raises(CovipError, match="judge failed on 2 of 2 captions"):
        reward.terms(["another storm", "more fog"], ["s1"] * 2, None)


def test_per_question_leak_penalty_does_not_shrink_with_absent_concepts() -> None:
    """The paper's scale shares the penalty among the N negative questions, so one leak costs
    less beside more absent concepts; `per_question` charges each leak the same."""
    image = ImageData(b"not decoded by the reward")
    extra = Concept("Cedar", "pet", image, "User: hi\nModel: hello",
                    qas=(_qa(6, ("Porto", "Turin", "Nice")), _qa(7, ("kale", "rice", "figs")),
                         _qa(8, ("a parade", "a fair", "a race"))))
    small = _sample()
    large = CapEvalSample("s2", image, (*small.context, extra), (0,))
    leak = "Ashby went to Lisbon. Later, Brook went to Bergen."
    penalties = {}
    for scale in ("total", "per_question"):
        reward = CaptionReward(LexicalJudge(), RewardWeights(negative=0.5, negative_scale=scale),
                               max_completion_length=50, samples={"s1": small, "s2": large})
        penalties[scale] = [t[1] for t in reward.terms([leak, leak], ["s1", "s2"], None)]
    assert penalties["total"] == pytest.approx([-0.5 / 2, -0.5 / 5])
    assert penalties["per_question"] == pytest.approx([-0.5, -0.5])
    with pytest.raises(CovipError, match="reward_negative_scale='shared'"):
        RewardWeights(negative_scale="shared")


def test_training_prompts_hold_encoded_images_decoded_per_row(small_dataset: Path) -> None:
    """Prompt rows keep bytes (untouched under the pixel cap, never decoded to build them);
    the dataset decodes a row's images when it is read."""
    from benchmark import images as decoding
    from coviP_train.data import as_dataset, build_prompts

    before = decoding.decode_count()
    small = build_prompts(str(small_dataset), None, 16, 10**8)
    assert decoding.decode_count() == before  # under the cap: no pixels at all
    row = small.rows.head(1)[0]
    sample = small.samples[row["sample_id"]]
    assert row["images"][-1]["bytes"] == sample.query_image.data
    capped = build_prompts(str(small_dataset), None, 16, 64 * 64)
    assert all(len(cell["bytes"]) < len(sample.query_image.data) for cell in
               capped.rows.head(1)[0]["images"][-1:])
    pil = as_dataset(capped.rows.head(2), capped.features)[0]["images"][-1]
    assert pil.width * pil.height <= 64 * 64
