# ruff: noqa: E501 - one text per line reads better than wrapped fragments
"""German fixed texts (keys as in ``en``; a missing key falls back to English)."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "offline.label": "_Offline-Entwurf — aus den Daten des Vorgangs erstellt, ohne KI-Modell._",
    "offline.label_merged": "_{note}. Er wurde mit Vorlagen aus den Daten des Vorgangs erstellt, nicht von einem KI-Modell._",
    "fallback.no_model": "Offline-Entwurf: Es ist kein KI-Modell eingerichtet.",
    "fallback.budget_exceeded": "Offline-Entwurf: Das tägliche KI-Budget dieser Site ist aufgebraucht.",
    "fallback.circuit_open": "Offline-Entwurf: Der KI-Dienst ist gerade nicht erreichbar.",
    "fallback.llm_error": "Offline-Entwurf: Der KI-Dienst konnte diesmal nicht antworten.",
    "fallback.reply_rejected": "Offline-Entwurf: Die Antwort der KI hat die Prüfungen des Assistenten nicht bestanden.",
    "action.already_done": "{key} ist bereits in **{status}**, es gab also nichts zu ändern.",
    "action.no_requester": "Ich konnte nicht erkennen, wer gefragt hat, deshalb habe ich nichts geändert.",
    "action.request_unconfirmed": (
        "Ich konnte diese Anfrage bei Jira nicht bestätigen (der Kommentar wurde geändert oder entfernt), "
        "deshalb habe ich nichts geändert. Frag bitte in einem neuen Kommentar, falls es noch nötig ist."
    ),
    "action.permission_denied": (
        "Ich kann {key} nicht für dich als erledigt markieren: Deine Jira-Berechtigungen erlauben keine "
        "Statusänderung dieses Vorgangs. Es wurde nichts geändert. Jemand mit der Berechtigung "
        "*Vorgänge weiterschalten* kann das tun."
    ),
    "action.no_done_transition": (
        "Ich habe im Workflow dieses Vorgangs keinen Übergang von **{status}** in einen erledigten Status "
        "gefunden, deshalb wurde nichts geändert."
    ),
    "failure.note": (
        "Entschuldigung, ich konnte deine Anfrage nicht ausführen ({why}). Es wurde nichts geändert. Bitte "
        "versuch es in ein paar Minuten noch einmal; wenn es weiter fehlschlägt, sag deinem Jira-Admin "
        "Bescheid (Referenz: {code})."
    ),
    "failure.llm_error": "der KI-Dienst hat nicht geantwortet",
    "failure.jira_error": "Jira hat meine Antwort nicht angenommen",
    "failure.jira_unavailable": "Jira war nicht erreichbar",
    "failure.jira_rate_limited": "Jira hat mich gebeten, langsamer zu machen",
    "failure.reply_invalid": "meine Antwort hat meine Qualitätsprüfungen nicht bestanden",
    "failure.storage_error": "mein Speicher war nicht verfügbar",
    "failure.circuit_open": "ein Dienst, den ich brauche, erholt sich gerade von einem Ausfall",
    "failure.jira_forbidden": "Jira hat der App das nicht erlaubt",
    "failure.unknown": "etwas ist schiefgelaufen",
    "rate.user": (
        "Du hast mich {window} sehr oft gefragt, deshalb pausiere ich für dich. In etwa {wait} nehme ich "
        "wieder Anfragen an; frag bitte dann noch einmal. Es wurde nichts geändert."
    ),
    "rate.site": (
        "Auf dieser Site wurde ich {window} sehr oft gefragt, deshalb pausiere ich für diese Site. In etwa "
        "{wait} nehme ich wieder Anfragen an; frag bitte dann noch einmal. Es wurde nichts geändert."
    ),
    "window.minute": "in der letzten Minute",
    "window.hour": "in der letzten Stunde",
    "window.seconds": "in den letzten {n} Sekunden",
    "wait.second": "1 Sekunde",
    "wait.seconds": "{n} Sekunden",
    "wait.minutes": "{n} Minuten",
    "help.intro": "**Das kann ich für dich tun.** Schreib `{trigger}` und deine Anfrage in einen Kommentar:",
    "help.or": " oder ",
    "help.refine": "Meine letzte Antwort überarbeiten",
    "help.transition_note": (
        "Eine Aufgabe abschließen setzt den Vorgang nur dann auf erledigt, wenn deine Berechtigungen und "
        "der Workflow es erlauben."
    ),
    "help.tone_note": (
        "Wünsch dir einen Ton mit Wörtern wie *formell*, *freundlich*, *kurz* oder *entschuldigend*. "
        "Ich antworte in der Sprache, in der du schreibst."
    ),
    "cap.summary_request": "Den Vorgang zusammenfassen",
    "cap.email_request": "Eine E-Mail entwerfen",
    "cap.comment_request": "Einen Kommentar schreiben",
    "cap.task_completion": "Die Aufgabe abschließen",
    "example.summary_request": "fasse diesen Vorgang zusammen",
    "example.email_request": "schreibe eine E-Mail an den Kunden wegen der Verzögerung",
    "example.comment_request": "schreibe ein Status-Update für das Team",
    "example.task_completion": "markiere das als erledigt und notiere, was behoben wurde",
    "example2.summary_request": "wie ist der Stand?",
    "example2.comment_request": "antworte auf die Frage des Melders",
    "example.shorter": "mach es kürzer",
    "example.formal": "formeller",
    "do.summary_request": "den Vorgang zusammenfassen",
    "do.email_request": "eine E-Mail entwerfen",
    "do.comment_request": "einen Kommentar schreiben",
    "do.task_completion": "den Vorgang abschließen",
    "clarify.unsure_echo": "Ich bin nicht sicher, was ich mit \u201e{echo}\u201c tun soll.",
    "clarify.unsure": "Ich bin nicht sicher, was ich tun soll.",
    "clarify.negated": "Ich habe verstanden, dass ich nicht {action} soll, also habe ich das nicht getan.",
    "clarify.maybe": "Es klingt, als sollte ich {action}.",
    "clarify.i_can": "Ich kann:",
    "clarify.item": "- {label}, zum Beispiel {example}",
    "clarify.which": "Was davon möchtest du?",
    "field.status": "Status",
    "field.assignee": "Bearbeiter",
    "field.unassigned": "Nicht zugewiesen",
    "field.priority": "Priorität",
    "field.due_date": "Fälligkeitsdatum",
    "field.not_set": "nicht gesetzt",
    "field.not_recorded": "nicht erfasst",
    "field.reporter": "Melder",
    "field.labels": "Labels",
    "someone": "jemand",
    "someone_start": "Jemand",
    "summary.title": "**Zusammenfassung von {title}**",
    "summary.current_state": "**Aktueller Stand**",
    "summary.background": "**Hintergrund**",
    "summary.no_description": "Es wurde noch keine Beschreibung geschrieben.",
    "summary.recent": "**Letzte Aktivität**",
    "summary.no_comments": "- Noch keine Kommentare.",
    "summary.decisions": "**Entscheidungen**",
    "summary.no_decisions": "- In den Kommentaren ist keine erfasst.",
    "summary.questions": "**Offene Fragen**",
    "summary.no_questions": "- In den Kommentaren wurden keine gefunden.",
    "comment.cant_rewrite": (
        "Ohne KI-Modell kann ich die vorige Antwort nicht umschreiben; hier ist ein neues Status-Update aus "
        "den Daten des Vorgangs."
    ),
    "comment.cant_tailor": (
        "Ohne KI-Modell kann ich keine passende Antwort schreiben, deshalb hier der im Vorgang erfasste "
        "aktuelle Stand."
    ),
    "comment.title": "**Status-Update zu {title}**",
    "comment.latest": "- Letzte Aktualisierung ({who}{when}): {text}",
    "comment.questions": "Offene Fragen:",
    "next.done": "Nächster Schritt: keiner erfasst; der Vorgang ist gelöst.",
    "next.in_progress": "Nächster Schritt: Die Arbeit läuft; weitere Schritte sind im Vorgang nicht erfasst.",
    "next.todo": "Nächster Schritt: Die Arbeit hat noch nicht begonnen.",
    "next.unknown": "Nächster Schritt: im Vorgang nicht erfasst.",
    "email.subject_purpose": "Neuigkeiten zu {purpose}: {subject}",
    "email.subject": "Neuigkeiten: {subject}",
    "email.dear_name": "Guten Tag {name},",
    "email.hi_name": "Hallo {name},",
    "greet.customer.formal": "Sehr geehrte Kundin, sehr geehrter Kunde,",
    "greet.customer.casual": "Hallo,",
    "greet.vendor.formal": "Guten Tag,",
    "greet.vendor.casual": "Hallo,",
    "greet.stakeholders.formal": "Sehr geehrte Damen und Herren,",
    "greet.stakeholders.casual": "Hallo zusammen,",
    "greet.team.formal": "Hallo Team,",
    "greet.team.casual": "Hallo Team,",
    "greet.other.formal": "Guten Tag,",
    "greet.other.casual": "Hallo,",
    "email.open.apologetic": (
        "Es tut mir leid für die Unannehmlichkeiten rund um {about}, und vielen Dank für Ihre Geduld. "
        "Hier ist der aktuelle Stand."
    ),
    "email.open.friendly": "Hier ein kurzes Update zu {about}.",
    "email.open.concise": "Update zu {about}:",
    "email.open.formal": "ich schreibe Ihnen mit einem Update zu {about}.",
    "email.status": "Aktueller Status: {status}.",
    "email.assigned": "{name} ist dafür zuständig.",
    "email.due": "Das Fälligkeitsdatum ist der {date}.",
    "email.latest": "Letzte Aktualisierung: {text}",
    "email.next.done": "Der Vorgang ist gelöst. Bitte geben Sie uns Bescheid, falls noch etwas nicht wie erwartet funktioniert.",
    "email.next.in_progress": "Die Arbeit läuft, und wir melden uns mit weiteren Neuigkeiten.",
    "email.next.todo": "Die Arbeit hat noch nicht begonnen; wir melden uns, sobald es losgeht.",
    "email.next.unknown": "Wir melden uns mit weiteren Neuigkeiten.",
    "signoff.friendly": "Viele Grüße",
    "signoff.concise": "Grüße",
    "signoff.apologetic": "Mit der Bitte um Entschuldigung und freundlichen Grüßen",
    "signoff.formal": "Mit freundlichen Grüßen",
    "note.title": "**Abschlussnotiz**",
    "note.status_change": "- Status: {from_status} \u2192 {to_status}",
    "note.via": " (über \u201e{name}\u201c)",
    "note.status": "- Status: {status}",
    "note.what": "- Was erledigt wurde: {words}",
    "note.from": "- Von {author}: {text}",
    "note.a_comment": "einem Kommentar",
    "note.no_details": "- In der Anfrage und den letzten Kommentaren sind keine Details zur Arbeit erfasst.",
}
