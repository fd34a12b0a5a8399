import pytest

from connect_app.errors import BadRequestError
from connect_app.settings import Settings
from connect_app.storage.disk import DiskStore
from connect_app.storage.site_settings import SiteSettingsRepo


@pytest.fixture
def repo(tmp_path):
    store = DiskStore(tmp_path)
    yield SiteSettingsRepo(store)
    store.close()


def test_defaults_then_update_round_trip(repo):
    s = repo.get("site")
    assert s.default_email_tone == "formal" and s.project_enabled("ANY")
    repo.update("site", {"daily_limit_usd": 2, "enabled_projects": ["sup", "OPS"], "default_email_tone": "friendly",
                         "resolution_summary_on_done": True, "extra_instructions": "  Sign as Support.  "})
    s = repo.get("site")
    assert s.daily_limit_usd == 2.0 and s.enabled_projects == ["OPS", "SUP"]
    assert s.project_enabled("SUP") and not s.project_enabled("DEV")
    assert s.extra_instructions == "Sign as Support."
    assert s.effective_daily_limit_usd(Settings()) == 2.0
    assert repo.get("other").daily_limit_usd is None


@pytest.mark.parametrize(("changes", "needle"), [
    ({"daily_limit_usd": -1}, "daily_limit_usd"), ({"daily_limit_usd": True}, "daily_limit_usd"),
    ({"alert_percentage": 0}, "alert_percentage"), ({"default_email_tone": "rude"}, "default_email_tone"),
    ({"semantic_cache": "yes"}, "semantic_cache"), ({"enabled_projects": ["not a key!"]}, "project key"),
    ({"extra_instructions": "x" * 1001}, "1000"), ({"colour": "red"}, "unknown setting"),
    ({"model": "gpt-99"}, "priced models"),
])
def test_invalid_changes_are_refused_and_nothing_changes(repo, changes, needle):
    with pytest.raises(BadRequestError, match=needle):
        repo.update("site", changes, allowed_models={"gpt-4o-mini"})
    assert repo.get("site").daily_limit_usd is None
