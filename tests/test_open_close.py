"""Constructors store settings; the knowledge base opens and the tracker connects only in open()/start() or
`with` (nothing is created before, and using either unopened is a clear error)."""
from __future__ import annotations

import pytest

from evolve.knowledge import KnowledgeBase, KnowledgeBaseError
from evolve.tracking import Tracker, default_tracking_uri


def test_a_knowledge_base_is_created_only_when_opened(tmp_path):
    path = tmp_path / "run" / "knowledge.db"
    kb = KnowledgeBase(path, "c")
    assert not path.parent.exists()
    with pytest.raises(KnowledgeBaseError, match="not open: call open"):
        kb.get_meta("campaign")
    with kb:
        assert path.is_file() and kb.get_meta("campaign") == "c"
    with pytest.raises(KnowledgeBaseError, match="not open"):
        kb.get_meta("campaign")  # closed on leaving `with`
    assert KnowledgeBase.existing(path).get_meta("campaign") == "c"  # `existing` hands back an opened one


def test_a_refused_file_is_left_closed_and_untouched(tmp_path):
    path = tmp_path / "knowledge.db"
    path.write_bytes(b"not a database at all" * 100)
    kb = KnowledgeBase(path, "c")
    with pytest.raises(KnowledgeBaseError):
        kb.open()
    assert path.read_bytes() == b"not a database at all" * 100
    with pytest.raises(KnowledgeBaseError, match="not open"):
        kb.get_meta("campaign")


@pytest.mark.slow  # a fresh MLflow store migrates its schema (seconds)
def test_a_tracker_contacts_its_store_only_when_started(tmp_path):
    uri = default_tracking_uri(tmp_path)
    tracker = Tracker(uri, "exp", "run", {"a": {"b": [1, 2]}})
    assert not (tmp_path / "mlflow").exists() and tracker.run_id == ""
    with pytest.raises(RuntimeError, match="not started: call start"):
        tracker.log_cycle(0, {"x": 1.0})
    tracker.close()  # never started: nothing to end
    with tracker:
        assert tracker.run_id and (tmp_path / "mlflow").exists()
        assert tracker._client.get_run(tracker.run_id).data.params == {"a.b": "[1,2]"}


def test_a_campaign_creates_nothing_until_opened_and_closes_what_a_refused_open_started(tmp_path, numeric_cfg):
    from evolve.campaign import Campaign
    from tests.conftest import ROOT

    cfg = numeric_cfg(["tracking.enabled=false", "progress=false"], hostile=False)
    run = tmp_path / "run"
    campaign = Campaign(cfg, run, ROOT)
    assert not run.exists() and campaign.ctx is None  # construction only stores settings and builds domains
    with campaign:
        identity = campaign.ctx.kb.get_meta("identity")
        assert (run / "knowledge.db").is_file() and identity
    with pytest.raises(KnowledgeBaseError, match="not open"):
        campaign.ctx.kb.get_meta("identity")  # closed on leaving `with`
    other = numeric_cfg(["tracking.enabled=false", "progress=false", "seed=5"], hostile=False)
    with pytest.raises(KnowledgeBaseError, match="holds a campaign with"):
        Campaign(other, run, ROOT).open()  # another campaign's run directory is refused ...
    with KnowledgeBase.existing(run / "knowledge.db") as kb:  # ... and left the first campaign's record as it was
        assert kb.get_meta("identity") == identity


def test_a_designer_that_cannot_be_built_leaves_the_knowledge_base_closed(tmp_path, numeric_cfg, monkeypatch):
    import evolve.campaign as campaign_module
    from tests.conftest import ROOT

    def refuse(*_args, **_kwargs):
        raise ValueError("no designer today")

    monkeypatch.setattr(campaign_module, "build_designer", refuse)
    campaign = campaign_module.Campaign(numeric_cfg(["tracking.enabled=false", "progress=false"], hostile=False),
                                        tmp_path / "run", ROOT)
    with pytest.raises(ValueError, match="no designer today"):
        campaign.open()
    with pytest.raises(KnowledgeBaseError, match="not open"):
        campaign.ctx.kb.get_meta("identity")  # the refused open closed what it had opened
    campaign.close()  # and closing a campaign that never opened does nothing
