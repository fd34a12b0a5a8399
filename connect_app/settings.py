"""Typed settings, read once from the environment (and an optional ``.env`` file).

This module is the only reader of ``os.environ`` in the product (and its only writer:
:meth:`Settings.export_prometheus_multiproc_dir` hands prometheus_client the variable it reads itself;
``tests/test_environ_rule.py`` enforces both). Every other module receives a :class:`Settings` instance
from its caller. Invalid values raise :class:`ConfigError` at start with a
message naming the variable and what is wrong with it.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ConfigError

ATLASSIAN_INSTALL_KEYS_URL = "https://connect-install-keys.atlassian.com"
ATLASSIAN_FORGE_JWKS_URL = "https://forge.cdn.prod.atlassian-dev.net/.well-known/jwks.json"
DEFAULT_ALLOWED_HOSTS = ("*.atlassian.net", "*.jira.com", "*.jira-dev.com")
LLM_PROVIDERS = ("openai", "azure", "offline")
ENVIRONMENTS = ("dev", "prod")
EMAIL_TONES = ("formal", "friendly", "concise", "apologetic")
PROMETHEUS_MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""The variable prometheus_client itself reads (at import and whenever it creates a value file)."""

_TRUE = {"1", "true", "yes", "on"}
_HOSTNAME = re.compile(r"[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?|\[[0-9a-f:]+\]|::1")
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    """Everything the product can be configured with. Build it with :meth:`from_env`."""

    app_base_url: str = "http://127.0.0.1:8000"
    app_key: str = "jira-ai-assistant"
    app_name: str = "Jira AI Assistant"
    vendor_name: str = "Jira AI Assistant"
    vendor_url: str = "https://example.com/jira-ai-assistant"
    data_dir: Path = Path("./data")
    redis_url: str | None = None
    openai_api_key: str | None = None
    openai_api_base_url: str | None = None
    llm_provider: str = "offline"
    openai_primary_model: str = "gpt-4o-mini"
    openai_classifier_model: str | None = None
    azure_api_version: str = "2024-10-21"
    azure_deployment: str | None = None
    llm_timeout_seconds: float = 30.0
    llm_max_retries: int = 2
    llm_max_tokens: int = 700
    max_daily_cost_usd: float = 5.0
    cost_alert_percentage: float = 80.0
    price_table_file: Path | None = None
    cache_enabled: bool = True
    cache_ttl_seconds: int = 86_400
    cache_size_limit_mb: int = 256
    use_embedding_cache: bool = False
    embedding_backend: str = "auto"
    semantic_threshold: float = 0.85
    embedding_model: str | None = None
    confidence_threshold: float = 0.7
    environment: str = "dev"
    debug_mode: bool = False
    connect_install_keys_url: str = ATLASSIAN_INSTALL_KEYS_URL
    connect_allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    secret_key: str | None = None
    jwt_leeway_seconds: int = 60
    outbound_jwt_ttl_seconds: int = 180
    ai_trigger: str = "@ai"
    queue_workers: int = 4
    job_retries: int = 3
    job_retry_delay_seconds: float = 2.0
    job_lease_seconds: float = 10.0
    max_body_bytes: int = 1_000_000
    rate_limit_user_per_minute: int = 6
    rate_limit_user_per_hour: int = 60
    rate_limit_site_per_minute: int = 120
    metrics_max_records: int = 10_000
    error_rate_threshold: float = 0.1
    forge_app_id: str | None = None
    forge_jwks_url: str = ATLASSIAN_FORGE_JWKS_URL
    forge_allowed_api_hosts: tuple[str, ...] = ("api.atlassian.com",)
    forge_token_wait_seconds: float = 300.0
    log_level: str = "INFO"
    bind: str = "127.0.0.1:8000"
    prometheus_multiproc_dir: Path | None = None
    metrics_token: str | None = None
    web_workers: int = 2
    web_threads: int = 4
    extra: Mapping[str, str] = field(default_factory=dict)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: str | Path | None = ".env",
        **overrides: Any,
    ) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``) layered over an optional env file.

        Values in the real environment win over the file; ``overrides`` (Python values, used by
        tests and the demo) win over both. Raises :class:`ConfigError` naming the bad variable.
        """
        env: dict[str, str] = {}
        if env_file is not None and Path(env_file).is_file():
            env.update(_read_env_file(Path(env_file)))
        env.update(os.environ if environ is None else environ)
        values = _parse(env)
        values.update(overrides)
        settings = cls(**values)
        settings.validate()
        return settings

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied and validated."""
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    # ------------------------------------------------------------------ validation
    def problems(self) -> list[str]:
        """Every configuration problem, as sentences naming the variable; empty when all is well."""
        out: list[str] = []
        parts = urlsplit(self.app_base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            out.append(f"APP_BASE_URL must be an absolute http(s) URL, got {self.app_base_url!r}")
        if not re.fullmatch(r"[a-zA-Z0-9.\-_]{1,64}", self.app_key):
            out.append("APP_KEY must be 1-64 characters of letters, digits, '.', '-' or '_'")
        if self.llm_provider not in LLM_PROVIDERS:
            out.append(f"LLM_PROVIDER must be one of {', '.join(LLM_PROVIDERS)}, got {self.llm_provider!r}")
        if self.llm_provider in ("openai", "azure") and not self.openai_api_key:
            out.append(f"LLM_PROVIDER={self.llm_provider} needs OPENAI_API_KEY")
        if self.llm_provider == "azure" and not self.openai_api_base_url:
            out.append("LLM_PROVIDER=azure needs OPENAI_API_BASE_URL (the Azure OpenAI endpoint)")
        if self.max_daily_cost_usd < 0:
            out.append("MAX_DAILY_COST_USD must be zero or more")
        if not 0 < self.cost_alert_percentage <= 100:
            out.append("COST_ALERT_PERCENTAGE must be above 0 and at most 100")
        if not 0 < self.confidence_threshold <= 1:
            out.append("CONFIDENCE_THRESHOLD must be above 0 and at most 1")
        if self.embedding_backend not in ("auto", "provider", "local", "hashing"):
            out.append("EMBEDDING_BACKEND must be auto, provider, local or hashing, not "
                       f"{self.embedding_backend!r}")
        if not 0 < self.semantic_threshold <= 1:
            out.append("SEMANTIC_THRESHOLD must be above 0 and at most 1")
        if self.environment not in ENVIRONMENTS:
            out.append(f"ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}, got {self.environment!r}")
        if self.environment == "prod":
            if self.debug_mode:
                out.append("DEBUG_MODE must be off when ENVIRONMENT=prod")
            if not self.secret_key:
                out.append("SECRET_KEY is required when ENVIRONMENT=prod (it encrypts site secrets at rest)")
            if parts.scheme != "https":
                out.append("APP_BASE_URL must use https when ENVIRONMENT=prod")
            if not self.metrics_token:
                out.append("METRICS_TOKEN is required when ENVIRONMENT=prod "
                           "(/metrics shows per-site breaker states)")
        if self.secret_key is not None and len(self.secret_key) < 16:
            out.append("SECRET_KEY must be at least 16 characters")
        if not self.connect_allowed_hosts:
            out.append("CONNECT_ALLOWED_HOSTS must name at least one host pattern")
        if self.job_lease_seconds < 1:
            out.append("JOB_LEASE_SECONDS must be at least 1")
        if self.queue_workers < 1:
            out.append("QUEUE_WORKERS must be at least 1")
        for name, value in (
            ("RATE_LIMIT_USER_PER_MINUTE", self.rate_limit_user_per_minute),
            ("RATE_LIMIT_USER_PER_HOUR", self.rate_limit_user_per_hour),
            ("RATE_LIMIT_SITE_PER_MINUTE", self.rate_limit_site_per_minute),
        ):
            if value < 1:
                out.append(f"{name} must be at least 1 (a limit cannot be turned off, only raised)")
        if self.rate_limit_user_per_hour < self.rate_limit_user_per_minute:
            out.append("RATE_LIMIT_USER_PER_HOUR must be at least RATE_LIMIT_USER_PER_MINUTE")
        if self.price_table_file is not None and not Path(self.price_table_file).is_file():
            out.append(f"PRICE_TABLE_FILE {self.price_table_file} does not exist")
        return out

    def validate(self) -> None:
        """Raise :class:`ConfigError` listing every problem, if there is any."""
        problems = self.problems()
        if problems:
            raise ConfigError("invalid configuration: " + "; ".join(problems))

    # ------------------------------------------------------------------ derived values
    @property
    def base_path(self) -> str:
        """The path part of ``APP_BASE_URL`` without a trailing slash ('' at the root)."""
        return urlsplit(self.app_base_url).path.rstrip("/")

    def url(self, path: str) -> str:
        """An absolute URL of ours for ``path`` (which starts with '/')."""
        return self.app_base_url.rstrip("/") + path

    def host_allowed(self, base_url: str) -> bool:
        """True if a tenant's ``baseUrl`` matches ``CONNECT_ALLOWED_HOSTS`` (https unless loopback)."""
        parts = urlsplit(base_url)
        host = (parts.hostname or "").lower()
        if not host or parts.scheme not in ("http", "https") or not _HOSTNAME.fullmatch(host):
            return False
        if parts.username or parts.password or "\\" in base_url:
            return False
        loopback = host in ("127.0.0.1", "localhost", "::1")
        if parts.scheme == "http" and not loopback:
            return False
        return any(fnmatch.fnmatchcase(host, pattern.lower()) for pattern in self.connect_allowed_hosts)

    @property
    def secret_key_or_dev(self) -> str:
        """The key that encrypts secrets at rest; a fixed development key outside prod."""
        return self.secret_key or "dev-only-insecure-secret-key-change-me"

    @property
    def shared_metrics_dir(self) -> Path:
        """The Prometheus multiprocess directory of the server processes (web and job workers).

        ``PROMETHEUS_MULTIPROC_DIR`` when set, otherwise ``DATA_DIR/prometheus``, as an absolute path.
        One per host: every web and job worker started from this ``DATA_DIR`` shares it, so one
        scrape of any web worker sums them all. Only the server entry points (gunicorn's config,
        ``jira-ai worker``, ``jira-ai serve``) use the default; everything else stays single-process
        unless the variable is set.
        """
        return Path(self.prometheus_multiproc_dir or self.data_dir / "prometheus").resolve()

    def export_prometheus_multiproc_dir(self) -> Path | None:
        """Put ``prometheus_multiproc_dir`` into this process's environment, for prometheus_client.

        The library takes the directory from ``PROMETHEUS_MULTIPROC_DIR`` (when it is imported and
        whenever it creates a value file), so a process that gets the directory from Settings
        (the ``DATA_DIR`` default, a ``.env`` file) must export it before any metric exists; child
        processes inherit it. Returns the exported directory, or None when none is configured.
        Raises :class:`ConfigError` when the environment already names a different directory.
        """
        if self.prometheus_multiproc_dir is None:
            return None
        path = Path(self.prometheus_multiproc_dir).resolve()
        current = os.environ.get(PROMETHEUS_MULTIPROC_ENV, "").strip()
        if current and Path(current).resolve() != path:
            raise ConfigError(
                f"{PROMETHEUS_MULTIPROC_ENV} is {current} but the settings name {path}; "
                "export the same directory for every process"
            )
        os.environ[PROMETHEUS_MULTIPROC_ENV] = str(path)
        return path

    @staticmethod
    def child_environment(additions: Mapping[str, str] | None = None) -> dict[str, str]:
        """The current environment plus ``additions``, for the processes we start (``jira-ai serve``,
        the development stack).
        """
        env = dict(os.environ)
        env.update(additions or {})
        return env

    def redacted(self) -> dict[str, Any]:
        """Settings as a dict with secrets masked, for ``jira-ai check`` and logs."""
        out = {}
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name in ("openai_api_key", "secret_key", "metrics_token") and value:
                value = "***"
            elif f.name == "redis_url" and value:
                value = re.sub(r"//[^@/]*@", "//***@", value)
            elif isinstance(value, Path):
                value = str(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[f.name] = value
        out.pop("extra", None)
        return out


# ---------------------------------------------------------------------- parsing helpers
def _read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        out[key] = value
    return out


def _bool(name: str, raw: str) -> bool:
    low = raw.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _num(name: str, raw: str, kind: type) -> Any:
    try:
        return kind(raw.strip())
    except ValueError:
        raise ConfigError(f"{name} must be a {kind.__name__}, got {raw!r}") from None


_STR = {
    "APP_BASE_URL": "app_base_url",
    "APP_KEY": "app_key",
    "APP_NAME": "app_name",
    "VENDOR_NAME": "vendor_name",
    "VENDOR_URL": "vendor_url",
    "OPENAI_PRIMARY_MODEL": "openai_primary_model",
    "OPENAI_CLASSIFIER_MODEL": "openai_classifier_model",
    "AZURE_API_VERSION": "azure_api_version",
    "AZURE_DEPLOYMENT": "azure_deployment",
    "ENVIRONMENT": "environment",
    "CONNECT_INSTALL_KEYS_URL": "connect_install_keys_url",
    "SECRET_KEY": "secret_key",
    "AI_TRIGGER": "ai_trigger",
    "FORGE_APP_ID": "forge_app_id",
    "FORGE_JWKS_URL": "forge_jwks_url",
    "LOG_LEVEL": "log_level",
    "BIND": "bind",
    "EMBEDDING_BACKEND": "embedding_backend",
    "EMBEDDING_MODEL": "embedding_model",
    "METRICS_TOKEN": "metrics_token",
    "OPENAI_API_KEY": "openai_api_key",
    "OPENAI_API_BASE_URL": "openai_api_base_url",
    "REDIS_URL": "redis_url",
}
_FLOAT = {
    "MAX_DAILY_COST_USD": "max_daily_cost_usd",
    "COST_ALERT_PERCENTAGE": "cost_alert_percentage",
    "CONFIDENCE_THRESHOLD": "confidence_threshold",
    "SEMANTIC_THRESHOLD": "semantic_threshold",
    "LLM_TIMEOUT_SECONDS": "llm_timeout_seconds",
    "JOB_RETRY_DELAY_SECONDS": "job_retry_delay_seconds",
    "JOB_LEASE_SECONDS": "job_lease_seconds",
    "FORGE_TOKEN_WAIT_SECONDS": "forge_token_wait_seconds",
    "ERROR_RATE_THRESHOLD": "error_rate_threshold",
}
_INT = {
    "LLM_MAX_RETRIES": "llm_max_retries",
    "LLM_MAX_TOKENS": "llm_max_tokens",
    "CACHE_TTL_SECONDS": "cache_ttl_seconds",
    "CACHE_SIZE_LIMIT_MB": "cache_size_limit_mb",
    "JWT_LEEWAY_SECONDS": "jwt_leeway_seconds",
    "QUEUE_WORKERS": "queue_workers",
    "JOB_RETRIES": "job_retries",
    "MAX_BODY_BYTES": "max_body_bytes",
    "RATE_LIMIT_USER_PER_MINUTE": "rate_limit_user_per_minute",
    "RATE_LIMIT_USER_PER_HOUR": "rate_limit_user_per_hour",
    "RATE_LIMIT_SITE_PER_MINUTE": "rate_limit_site_per_minute",
    "METRICS_MAX_RECORDS": "metrics_max_records",
    "WEB_WORKERS": "web_workers",
    "WEB_THREADS": "web_threads",
}
_BOOL = {
    "CACHE_ENABLED": "cache_enabled",
    "USE_EMBEDDING_CACHE": "use_embedding_cache",
    "DEBUG_MODE": "debug_mode",
}


def _parse(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, attr in _STR.items():
        if env.get(name, "").strip():
            values[attr] = env[name].strip()
    for name, attr in _FLOAT.items():
        if env.get(name, "").strip():
            values[attr] = _num(name, env[name], float)
    for name, attr in _INT.items():
        if env.get(name, "").strip():
            values[attr] = _num(name, env[name], int)
    for name, attr in _BOOL.items():
        if name in env:
            values[attr] = _bool(name, env[name])
    if env.get("DATA_DIR", "").strip():
        values["data_dir"] = Path(env["DATA_DIR"].strip())
    if env.get("FORGE_ALLOWED_API_HOSTS", "").strip():
        values["forge_allowed_api_hosts"] = tuple(
            p.strip() for p in env["FORGE_ALLOWED_API_HOSTS"].split(",") if p.strip()
        )
    if env.get("PROMETHEUS_MULTIPROC_DIR", "").strip():
        values["prometheus_multiproc_dir"] = Path(env["PROMETHEUS_MULTIPROC_DIR"].strip())
    if env.get("PRICE_TABLE_FILE", "").strip():
        values["price_table_file"] = Path(env["PRICE_TABLE_FILE"].strip())
    if env.get("CONNECT_ALLOWED_HOSTS", "").strip():
        values["connect_allowed_hosts"] = tuple(
            p.strip() for p in env["CONNECT_ALLOWED_HOSTS"].split(",") if p.strip()
        )
    provider = env.get("LLM_PROVIDER", "").strip().lower()
    if not provider:
        if values.get("openai_api_key"):
            base = values.get("openai_api_base_url", "")
            provider = (
                "azure" if ".openai.azure.com" in base or ".cognitiveservices.azure.com" in base else "openai"
            )
        else:
            provider = "offline"
    values["llm_provider"] = provider
    return values
