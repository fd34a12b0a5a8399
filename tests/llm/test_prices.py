"""Price table: defaults, Decimal math rounded up, cached-token rate, aliases, override file, refusals."""

import json
from decimal import Decimal

import pytest

from connect_app.errors import ConfigError
from connect_app.llm.prices import PriceTable
from connect_app.models import Usage

LATE_2026_MODELS = ["gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini", "gpt-5",
                    "gpt-5-mini", "gpt-5-nano", "gpt-5.4", "gpt-5.4-mini", "gpt-5.5", "text-embedding-3-small"]


@pytest.fixture
def table(settings):
    return PriceTable.load(settings)


def write_table(tmp_path, data) -> str:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def test_defaults_cover_current_models_and_name_their_source(table):
    for model in LATE_2026_MODELS:
        assert model in table.models()
    assert "developers.openai.com" in table.source and "2026" in table.source
    mini = table.price("gpt-4o-mini")
    assert (mini.input_per_m, mini.cached_input_per_m, mini.output_per_m) == (
        Decimal("0.15"), Decimal("0.075"), Decimal("0.60"))
    assert table.price("text-embedding-3-small").kind == "embedding"
    assert "text-embedding-3-small" not in table.chat_models()


def test_cost_charges_cached_prompt_tokens_at_their_own_rate(table):
    # 800 fresh x 0.15 + 200 cached x 0.075 + 500 out x 0.60 = 120 + 15 + 300 micro-dollars
    usage = Usage(prompt_tokens=1000, completion_tokens=500, cached_prompt_tokens=200)
    assert table.cost_micros("gpt-4o-mini", usage) == 435
    assert table.cost_micros("gpt-4o-mini", Usage(prompt_tokens=1000, completion_tokens=500)) == 450


def test_cost_rounds_up_and_zero_stays_zero(table):
    assert table.cost_micros("gpt-4o-mini", Usage(prompt_tokens=1)) == 1  # 0.15 micro-dollars
    assert table.cost_micros("gpt-5-nano", Usage(prompt_tokens=10, cached_prompt_tokens=10)) == 1  # 0.05
    assert table.cost_micros("gpt-4o-mini", Usage()) == 0
    # cached tokens beyond the prompt are capped at the prompt (a provider quirk must not make money up)
    assert table.cost_micros("gpt-4o", Usage(prompt_tokens=4, cached_prompt_tokens=9)) == 5  # 4 x 1.25


def test_decimal_math_has_no_float_drift(table):
    # o4-mini: 50 prompt tokens x 1.10 = 55 micro-dollars exactly; float math says 55.000000000000014 -> 56
    assert 50 * 1.1 > 55
    assert table.cost_micros("o4-mini", Usage(prompt_tokens=50)) == 55
    usage = Usage(prompt_tokens=3_333_333, completion_tokens=1_111_111, cached_prompt_tokens=1_234_567)
    exact = (Decimal(3_333_333 - 1_234_567) * Decimal("2.00") + Decimal(1_234_567) * Decimal("0.50")
             + Decimal(1_111_111) * Decimal("8.00"))
    assert exact == Decimal("13703703.50")
    assert table.cost_micros("gpt-4.1", usage) == 13_703_704  # the half micro-dollar rounds up


def test_estimate_is_the_uncached_worst_case(table):
    assert table.estimate_micros("gpt-4o-mini", 1000, 700) == 150 + 420
    assert table.estimate_micros("gpt-4.1-nano", 3, 1) == 1  # 0.3 + 0.4 = 0.7, rounded up


def test_lookup_is_case_insensitive_and_knows_dated_snapshots(table):
    assert table.price("GPT-4o-Mini ") == table.price("gpt-4o-mini")
    assert table.price("gpt-4o-mini-2024-07-18") == table.price("gpt-4o-mini")
    assert table.resolve("gpt-4.1-2025-04-14") == "gpt-4.1"


def test_unknown_model_error_says_how_to_price_it(table):
    with pytest.raises(ConfigError) as err:
        table.price("my-llama")
    assert "my-llama" in err.value.message and "PRICE_TABLE_FILE" in err.value.message
    assert "aliases" in err.value.message
    assert not table.is_priced("my-llama") and not table.is_priced(None)


def test_override_file_adds_models_overrides_prices_and_maps_aliases(settings, tmp_path):
    path = write_table(tmp_path, {
        "_source": "our Azure contract 2026-10",
        "models": {"gpt-4o-mini": {"input": "0.165", "cached_input": "0.0825", "output": "0.66"},
                   "house-model": {"input": 1, "output": 2}},
        "aliases": {"Prod-Mini-Deployment": "gpt-4o-mini", "house": "house-model"},
    })
    table = PriceTable.load(settings.replace(price_table_file=path))
    assert table.price("gpt-4o-mini").input_per_m == Decimal("0.165")
    assert table.price("prod-mini-deployment") == table.price("gpt-4o-mini")
    assert table.resolve("PROD-MINI-DEPLOYMENT") == "gpt-4o-mini"
    # no cached rate given: cached tokens are charged in full (never under-count)
    assert table.price("house").cached_input_per_m == Decimal(1)
    assert table.cost_micros("house", Usage(prompt_tokens=10, cached_prompt_tokens=10, completion_tokens=1)) == 12
    assert {"prod-mini-deployment", "house", "house-model", "gpt-4o"} <= set(table.chat_models())
    assert "our Azure contract" in table.source
    assert table.price("gpt-4o").input_per_m == Decimal("2.50")  # untouched defaults stay


def test_alias_can_point_a_deployment_named_like_a_model_elsewhere(settings, tmp_path):
    path = write_table(tmp_path, {"aliases": {"gpt-4o": "gpt-4o-mini"}})
    table = PriceTable.load(settings.replace(price_table_file=path))
    assert table.price("gpt-4o") == table.price("gpt-4o-mini")


@pytest.mark.parametrize("content, fragment", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "must hold a JSON object"),
    ({"modles": {}}, "unknown key"),
    ({"models": {"x": {"input": -1, "output": 1}}}, "between 0 and"),
    ({"models": {"x": {"input": "abc", "output": 1}}}, "must be a number"),
    ({"models": {"x": {"input": True, "output": 1}}}, "must be a number"),
    ({"models": {"x": {"input": 1}}}, "needs 'output'"),
    ({"models": {"x": {"input": 1, "output": 1, "kind": "image"}}}, "kind must be"),
    ({"models": {"x": {"input": 1, "output": 1, "price": 3}}}, "unknown field"),
    ({"models": {"x": [1, 2]}}, "must be an object"),
    ({"aliases": {"dep": "no-such-model"}}, "not priced"),
    ({"aliases": ["dep"]}, "aliases"),
])
def test_bad_override_file_is_a_config_error_naming_the_file(settings, tmp_path, content, fragment):
    path = write_table(tmp_path, content)
    with pytest.raises(ConfigError) as err:
        PriceTable.load(settings.replace(price_table_file=path))
    assert fragment in err.value.message
    assert "PRICE_TABLE_FILE" in err.value.message


def test_validate_models_refuses_unpriced_models_at_start(table, settings):
    table.validate_models(settings)  # the defaults are priced
    table.validate_models(settings.replace(openai_primary_model="gpt-5-mini", openai_classifier_model="gpt-4.1-nano"))
    with pytest.raises(ConfigError) as err:
        table.validate_models(settings.replace(openai_primary_model="my-deployment",
                                               openai_classifier_model="other-deployment"))
    message = err.value.message
    assert "OPENAI_PRIMARY_MODEL" in message and "my-deployment" in message
    assert "OPENAI_CLASSIFIER_MODEL" in message and "other-deployment" in message
    with pytest.raises(ConfigError, match="embedding model"):
        table.validate_models(settings.replace(openai_primary_model="text-embedding-3-small"))


def test_validate_models_accepts_an_aliased_azure_deployment(settings, tmp_path):
    path = write_table(tmp_path, {"aliases": {"contoso-gpt4o-mini": "gpt-4o-mini"}})
    configured = settings.replace(price_table_file=path, openai_primary_model="contoso-gpt4o-mini")
    PriceTable.load(configured).validate_models(configured)


def test_validate_models_checks_the_embedding_model_when_the_provider_embeds(table, settings):
    table.validate_models(settings, embedding_model="text-embedding-3-small")  # the default is priced
    table.validate_models(settings, embedding_model="text-embedding-ada-002")
    with pytest.raises(ConfigError) as err:
        table.validate_models(settings.replace(embedding_model="my-embeddings"), embedding_model="my-embeddings")
    message = err.value.message
    assert message.startswith("EMBEDDING_MODEL: ") and "my-embeddings" in message
    assert "PRICE_TABLE_FILE" in message  # says how to price it
    with pytest.raises(ConfigError, match=r"EMBEDDING_MODEL: 'gpt-4o-mini' is a chat model, not an embedding"):
        table.validate_models(settings.replace(embedding_model="gpt-4o-mini"), embedding_model="gpt-4o-mini")


def test_as_dict_is_json_ready(table):
    data = json.loads(json.dumps(table.as_dict()))
    assert data["models"]["gpt-4o-mini"] == {"input": "0.15", "cached_input": "0.075", "output": "0.60",
                                             "kind": "chat"}
