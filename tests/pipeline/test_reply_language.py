"""Fixed texts follow the request's language through the pipeline (offline provider, Jira simulator)."""

from __future__ import annotations

import pytest

from connect_app.pipeline.messages import text
from tests.pipeline.sim_world import SAM, pipeline_world


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with pipeline_world(tmp_path_factory.mktemp("data")) as w:
        yield w


def reply_to(world, issue, request, **kw):
    outcome = world.services.pipeline.process(world.ask(issue, request, **kw))
    assert outcome.status == "posted", outcome
    return world.replies(issue)[-1]["text"], outcome


@pytest.mark.parametrize(("request_text", "language"), [
    ("@ai hilfe", "de"), ("@ai aide", "fr"), ("@ai ayuda", "es"),
])
def test_help_is_in_the_language_of_the_request(world, request_text, language):
    issue = world.sim.add_issue("SUP", "Help wanted")["key"]
    reply, outcome = reply_to(world, issue, request_text)
    assert outcome.intent == "help"
    assert text("help.intro", language, trigger="@ai").replace("**", "").replace("`", "") in reply
    assert text("cap.summary_request", language) in reply
    assert "Here is what I can do" not in reply


def test_clarify_is_in_french(world):
    issue = world.sim.add_issue("SUP", "Something odd")["key"]
    reply, outcome = reply_to(world, issue, "@ai je ne sais pas trop, peux-tu regarder la météo pour nous ?")
    assert outcome.intent == "unclear"
    assert "Je ne suis pas sûr de ce que vous voulez que je fasse" in reply
    assert "Que souhaitez-vous ?" in reply and "I'm not sure" not in reply


def test_permission_refusal_is_in_spanish(world):
    issue = world.sim.add_issue("SUP", "Cambiar el logo", status="In Progress")["key"]
    world.sim.clear_calls()
    reply, outcome = reply_to(world, issue, "@ai cierra esta incidencia por favor", author=SAM)
    assert outcome.draft.data["action_result"] == "permission_denied"
    assert f"No puedo marcar {issue} como completada por ti" in reply
    assert world.sim.calls("/transitions", method="POST") == []


def test_offline_summary_framing_is_german_and_still_labelled(world):
    issue = world.sim.add_issue("SUP", "Login schlägt fehl", description_text="SSO-Schleife seit Montag.",
                                status="In Progress")["key"]
    reply, outcome = reply_to(world, issue, "@ai fasse diesen Vorgang bitte zusammen")
    assert outcome.intent == "summary_request" and outcome.draft.offline
    assert f"Zusammenfassung von {issue}: Login schlägt fehl" in reply  # issue data stays as written
    for words in ("Aktueller Stand", "Hintergrund", "SSO-Schleife seit Montag.", "Offene Fragen"):
        assert words in reply
    # the offline label is there, merged with the reason, in German
    assert "Offline-Entwurf: Es ist kein KI-Modell eingerichtet. Er wurde mit Vorlagen" in reply
    assert "Summary of" not in reply


def test_offline_completion_note_is_french(world):
    issue = world.sim.add_issue("SUP", "Purger le cache", status="In Progress")["key"]
    reply, outcome = reply_to(world, issue, "@ai marque ce ticket comme terminé, le cache est purgé")
    assert outcome.transitioned_to == "Done"
    assert "Note de clôture" in reply and "État : In Progress → Done" in reply
    assert "Brouillon hors ligne" in reply


def test_english_requests_keep_the_english_texts(world):
    issue = world.sim.add_issue("SUP", "Plain English")["key"]
    reply, _ = reply_to(world, issue, "@ai summarize this")
    assert f"Summary of {issue}: Plain English" in reply
    assert "Offline draft: no AI model is configured. It was written from the issue's data" in reply
