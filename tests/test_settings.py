from pathlib import Path

import pytest

from connect_app.errors import ConfigError
from connect_app.settings import Settings


def test_defaults_are_valid_and_offline_without_key(tmp_path):
    s = Settings.from_env({}, env_file=None)
    assert s.llm_provider == "offline"
    assert s.data_dir == Path("./data")
    assert s.problems() == []


def test_reads_every_documented_variable(tmp_path):
    env = {
        "APP_BASE_URL": "https://ai.example.com/app", "APP_KEY": "com.example.ai", "DATA_DIR": str(tmp_path),
        "REDIS_URL": "redis://:pw@localhost:6379/0", "OPENAI_API_KEY": "sk-test-123456789012",
        "OPENAI_API_BASE_URL": "https://llm.example.com/v1", "OPENAI_PRIMARY_MODEL": "gpt-4o",
        "MAX_DAILY_COST_USD": "12.5", "COST_ALERT_PERCENTAGE": "75", "CACHE_ENABLED": "false",
        "USE_EMBEDDING_CACHE": "yes", "ENVIRONMENT": "dev", "DEBUG_MODE": "0",
        "CONNECT_INSTALL_KEYS_URL": "http://127.0.0.1:9/keys", "CONNECT_ALLOWED_HOSTS": "*.atlassian.net, 127.0.0.1",
        "SECRET_KEY": "0123456789abcdef0123",
    }
    s = Settings.from_env(env, env_file=None)
    assert s.app_base_url == "https://ai.example.com/app" and s.base_path == "/app"
    assert s.llm_provider == "openai"
    assert s.max_daily_cost_usd == 12.5 and s.cost_alert_percentage == 75
    assert s.cache_enabled is False and s.use_embedding_cache is True
    assert s.connect_allowed_hosts == ("*.atlassian.net", "127.0.0.1")
    red = s.redacted()
    assert red["openai_api_key"] == "***" and red["secret_key"] == "***" and "pw" not in red["redis_url"]


def test_azure_is_detected_from_the_endpoint():
    s = Settings.from_env({"OPENAI_API_KEY": "k", "OPENAI_API_BASE_URL": "https://x.openai.azure.com"},
                          env_file=None)
    assert s.llm_provider == "azure"


@pytest.mark.parametrize(("env", "needle"), [
    ({"MAX_DAILY_COST_USD": "lots"}, "MAX_DAILY_COST_USD must be a float"),
    ({"CACHE_ENABLED": "maybe"}, "CACHE_ENABLED must be true or false"),
    ({"LLM_PROVIDER": "bard"}, "LLM_PROVIDER must be one of"),
    ({"LLM_PROVIDER": "openai"}, "needs OPENAI_API_KEY"),
    ({"COST_ALERT_PERCENTAGE": "150"}, "COST_ALERT_PERCENTAGE"),
    ({"APP_BASE_URL": "not a url"}, "APP_BASE_URL must be an absolute"),
    ({"ENVIRONMENT": "prod", "APP_BASE_URL": "https://a.example.com", "DEBUG_MODE": "1",
      "SECRET_KEY": "0123456789abcdef"}, "DEBUG_MODE must be off"),
    ({"ENVIRONMENT": "prod", "APP_BASE_URL": "https://a.example.com"}, "SECRET_KEY is required"),
    ({"ENVIRONMENT": "prod", "APP_BASE_URL": "https://a.example.com"}, "METRICS_TOKEN is required"),
    ({"ENVIRONMENT": "prod", "APP_BASE_URL": "http://a.example.com", "SECRET_KEY": "0123456789abcdef"},
     "must use https"),
])
def test_invalid_values_name_the_variable(env, needle):
    with pytest.raises(ConfigError) as info:
        Settings.from_env(env, env_file=None)
    assert needle in info.value.message


def test_env_file_is_read_and_environment_wins(tmp_path):
    f = tmp_path / ".env"
    f.write_text("# comment\nAPP_KEY='from-file'\nexport MAX_DAILY_COST_USD=3\n")
    s = Settings.from_env({"MAX_DAILY_COST_USD": "4"}, env_file=f)
    assert s.app_key == "from-file" and s.max_daily_cost_usd == 4


@pytest.mark.parametrize(("url", "ok"), [
    ("https://acme.atlassian.net", True), ("https://acme.jira.com", True), ("http://acme.atlassian.net", False),
    ("https://atlassian.net.evil.com", False), ("https://evil.com/acme.atlassian.net", False),
    ("http://127.0.0.1:9000", False), ("javascript:alert(1)", False),
    ("https://evil.example\\.atlassian.net", False), ("https://user:pw@acme.atlassian.net", False),
])
def test_allowed_hosts_default(url, ok):
    assert Settings.from_env({}, env_file=None).host_allowed(url) is ok


def test_loopback_allowed_only_when_listed():
    s = Settings.from_env({"CONNECT_ALLOWED_HOSTS": "*.atlassian.net,127.0.0.1"}, env_file=None)
    assert s.host_allowed("http://127.0.0.1:9000")


def test_every_setting_the_app_reads_is_documented_in_the_readme():
    """Each environment variable Settings reads has a row (or a mention) in README's tables."""
    import re
    from pathlib import Path

    from connect_app import settings as module

    names = set(module._STR) | set(module._FLOAT) | set(module._INT) | set(module._BOOL)
    names |= set(re.findall(r'env\.get\("([A-Z_]+)"', Path(module.__file__).read_text()))
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = sorted(name for name in names if f"`{name}`" not in readme)
    assert not missing, f"settings not documented in README.md: {missing}"


def test_shared_metrics_dir_is_per_data_dir_unless_set(tmp_path):
    def settings(**env: str) -> Settings:
        return Settings.from_env(env, env_file=None)

    host_a, host_b = settings(DATA_DIR=str(tmp_path / "a")), settings(DATA_DIR=str(tmp_path / "b"))
    assert host_a.shared_metrics_dir == (tmp_path / "a" / "prometheus").resolve()
    assert host_b.shared_metrics_dir != host_a.shared_metrics_dir  # each host its own directory
    assert host_a.prometheus_multiproc_dir is None  # only the server entry points use the default
    explicit = settings(DATA_DIR=str(tmp_path / "a"), PROMETHEUS_MULTIPROC_DIR=str(tmp_path / "m"))
    assert explicit.shared_metrics_dir == (tmp_path / "m").resolve()


def test_export_prometheus_multiproc_dir(tmp_path, monkeypatch):
    import os

    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", "")
    monkeypatch.delenv("PROMETHEUS_MULTIPROC_DIR")
    assert Settings.from_env({}, env_file=None).export_prometheus_multiproc_dir() is None
    assert "PROMETHEUS_MULTIPROC_DIR" not in os.environ
    mine = Settings.from_env({}, env_file=None, prometheus_multiproc_dir=tmp_path / "m")
    assert mine.export_prometheus_multiproc_dir() == (tmp_path / "m").resolve()
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == str((tmp_path / "m").resolve())
    assert mine.export_prometheus_multiproc_dir() == (tmp_path / "m").resolve()  # the same again is fine
    other = mine.replace(prometheus_multiproc_dir=tmp_path / "other")
    with pytest.raises(ConfigError, match="same directory"):
        other.export_prometheus_multiproc_dir()
