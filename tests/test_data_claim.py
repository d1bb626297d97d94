"""The domain's headline claim at the tiny scale of conf/domain/data.yaml: over three seeds, 'dedup +
quality model' reaches a lower clean held-out loss than 'no curation' at the same token budget."""
from pathlib import Path

import numpy as np
import pytest
import yaml

from domains.base import Budget
from domains.data import DataDomain

CONF = Path(__file__).resolve().parents[1] / "conf" / "domain" / "data.yaml"


def tiny_config() -> dict:
    """What the engine passes at scale=tiny: the settings merged with scales.tiny."""
    raw = yaml.safe_load(CONF.read_text())["domains"]["data"]
    return {**{k: v for k, v in raw.items() if k != "scales"}, **raw["scales"]["tiny"],
            "scale": "tiny", "device": "cpu"}


@pytest.mark.slow
def test_dedup_and_quality_beat_no_curation_over_three_seeds():
    domain = DataDomain(tiny_config())
    scores = {name: [] for name in ("none", "dedup_quality")}
    for seed in range(3):
        for name in scores:
            m = domain.evaluate({"data": domain.baselines()[name]}, Budget("full", 1.0, seed=seed), {})
            assert m.cost["tokens"] == 200 * 32 * 64 + 1  # equal token budget
            scores[name].append(m.score)
    gain = np.array(scores["dedup_quality"]) - np.array(scores["none"])
    assert gain.mean() > 0, scores
    assert (gain > 0).sum() >= 2, scores
