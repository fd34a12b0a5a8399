# ruff: noqa: E501 - one text per line reads better than wrapped fragments
"""French fixed texts (keys as in ``en``; a missing key falls back to English)."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "offline.label": "_Brouillon hors ligne — rédigé à partir des données du ticket, sans modèle d'IA._",
    "offline.label_merged": "_{note}. Il a été rédigé à partir des données du ticket par des modèles de texte, pas par un modèle d'IA._",
    "fallback.no_model": "Brouillon hors ligne : aucun modèle d'IA n'est configuré.",
    "fallback.budget_exceeded": "Brouillon hors ligne : le budget IA quotidien de ce site est épuisé.",
    "fallback.circuit_open": "Brouillon hors ligne : le service d'IA est indisponible pour le moment.",
    "fallback.llm_error": "Brouillon hors ligne : le service d'IA n'a pas pu répondre cette fois.",
    "fallback.reply_rejected": "Brouillon hors ligne : la réponse de l'IA n'a pas passé les contrôles de l'assistant.",
    "action.already_done": "{key} est déjà dans l'état **{status}**, il n'y avait donc rien à changer.",
    "action.no_requester": "Je n'ai pas pu savoir qui a demandé, je n'ai donc rien changé.",
    "action.request_unconfirmed": (
        "Je n'ai pas pu confirmer cette demande auprès de Jira (le commentaire a été modifié ou supprimé), "
        "je n'ai donc rien changé. Redemandez dans un nouveau commentaire si c'est toujours nécessaire."
    ),
    "action.permission_denied": (
        "Je ne peux pas marquer {key} comme terminé pour vous : vos autorisations Jira ne permettent pas de "
        "faire passer ce ticket à un autre état. Rien n'a été modifié. Une personne disposant de "
        "l'autorisation *Faire passer les tickets* peut le faire."
    ),
    "action.no_done_transition": (
        "Je n'ai trouvé aucune transition de **{status}** vers un état terminé dans le workflow de ce "
        "ticket, rien n'a donc été modifié."
    ),
    "failure.note": (
        "Désolé, je n'ai pas pu traiter votre demande ({why}). Rien n'a été modifié. Réessayez dans quelques "
        "minutes ; si l'échec persiste, prévenez votre administrateur Jira (référence : {code})."
    ),
    "failure.llm_error": "le service d'IA n'a pas répondu",
    "failure.jira_error": "Jira n'a pas accepté ma réponse",
    "failure.jira_unavailable": "Jira était injoignable",
    "failure.jira_rate_limited": "Jira m'a demandé de ralentir",
    "failure.reply_invalid": "ma réponse n'a pas passé mes contrôles de qualité",
    "failure.storage_error": "mon stockage était indisponible",
    "failure.circuit_open": "un service dont je dépends se remet d'une panne",
    "failure.jira_forbidden": "Jira n'a pas autorisé l'application à le faire",
    "failure.unknown": "un problème est survenu",
    "rate.user": (
        "Vous m'avez beaucoup sollicité {window}, je fais donc une pause pour vous. J'accepterai de nouvelles "
        "demandes dans environ {wait} ; redemandez à ce moment-là. Rien n'a été modifié."
    ),
    "rate.site": (
        "Les personnes de ce site m'ont beaucoup sollicité {window}, je fais donc une pause pour ce site. "
        "J'accepterai de nouvelles demandes dans environ {wait} ; redemandez à ce moment-là. Rien n'a été "
        "modifié."
    ),
    "window.minute": "au cours de la dernière minute",
    "window.hour": "au cours de la dernière heure",
    "window.seconds": "au cours des {n} dernières secondes",
    "wait.second": "1 seconde",
    "wait.seconds": "{n} secondes",
    "wait.minutes": "{n} minutes",
    "help.intro": "**Voici ce que je sais faire.** Écrivez `{trigger}` suivi de votre demande dans un commentaire :",
    "help.or": " ou ",
    "help.refine": "Retoucher ma dernière réponse",
    "help.transition_note": (
        "Terminer une tâche ne fait passer le ticket à l'état terminé que si vos autorisations et le "
        "workflow le permettent."
    ),
    "help.tone_note": (
        "Demandez un ton avec des mots comme *formel*, *amical*, *bref* ou *excuses*. "
        "Je réponds dans la langue dans laquelle vous écrivez."
    ),
    "cap.summary_request": "Résumer le ticket",
    "cap.email_request": "Rédiger un courriel",
    "cap.comment_request": "Écrire un commentaire",
    "cap.task_completion": "Terminer la tâche",
    "example.summary_request": "résume ce ticket",
    "example.email_request": "rédige un courriel au client sur le retard",
    "example.comment_request": "écris un commentaire avec un point d'avancement pour l'équipe",
    "example.task_completion": "marque ce ticket comme terminé et note ce qui a été corrigé",
    "example2.summary_request": "où en est ce ticket ?",
    "example2.comment_request": "réponds à la question du rapporteur",
    "example.shorter": "plus court",
    "example.formal": "plus formel",
    "do.summary_request": "résume le ticket",
    "do.email_request": "rédige un courriel",
    "do.comment_request": "écrive un commentaire",
    "do.task_completion": "termine ou clôture le ticket",
    "clarify.unsure_echo": "Je ne suis pas sûr de ce que vous voulez que je fasse avec \u00ab\u00a0{echo}\u00a0\u00bb.",
    "clarify.unsure": "Je ne suis pas sûr de ce que vous voulez que je fasse.",
    "clarify.negated": "J'ai compris que vous ne voulez pas que je {action}, je ne l'ai donc pas fait.",
    "clarify.maybe": "Il semble que vous voudriez que je {action}.",
    "clarify.i_can": "Je peux :",
    "clarify.item": "- {label}, par exemple {example}",
    "clarify.which": "Que souhaitez-vous ?",
    "field.status": "État",
    "field.assignee": "Responsable",
    "field.unassigned": "Non attribué",
    "field.priority": "Priorité",
    "field.due_date": "Échéance",
    "field.not_set": "non définie",
    "field.not_recorded": "non renseigné",
    "field.reporter": "Rapporteur",
    "field.labels": "Étiquettes",
    "someone": "quelqu'un",
    "someone_start": "Quelqu'un",
    "summary.title": "**Résumé de {title}**",
    "summary.current_state": "**Situation actuelle**",
    "summary.background": "**Contexte**",
    "summary.no_description": "Aucune description n'a encore été rédigée.",
    "summary.recent": "**Activité récente**",
    "summary.no_comments": "- Aucun commentaire pour l'instant.",
    "summary.decisions": "**Décisions**",
    "summary.no_decisions": "- Aucune consignée dans les commentaires.",
    "summary.questions": "**Questions ouvertes**",
    "summary.no_questions": "- Aucune trouvée dans les commentaires.",
    "comment.cant_rewrite": (
        "Je ne peux pas réécrire la réponse précédente sans modèle d'IA ; voici un nouveau point "
        "d'avancement à partir des données du ticket."
    ),
    "comment.cant_tailor": (
        "Je ne peux pas rédiger de réponse sur mesure sans modèle d'IA ; voici donc la situation actuelle "
        "consignée dans le ticket."
    ),
    "comment.title": "**Point d'avancement sur {title}**",
    "comment.latest": "- Dernière mise à jour ({who}{when}) : {text}",
    "comment.questions": "Questions ouvertes :",
    "next.done": "Prochaine étape : aucune consignée ; le ticket est résolu.",
    "next.in_progress": "Prochaine étape : le travail est en cours ; aucune autre étape n'est consignée dans le ticket.",
    "next.todo": "Prochaine étape : le travail n'a pas encore commencé.",
    "next.unknown": "Prochaine étape : non consignée dans le ticket.",
    "email.subject_purpose": "Point sur {purpose} : {subject}",
    "email.subject": "Point d'avancement : {subject}",
    "email.dear_name": "Bonjour {name},",
    "email.hi_name": "Bonjour {name},",
    "greet.customer.formal": "Madame, Monsieur,",
    "greet.customer.casual": "Bonjour,",
    "greet.vendor.formal": "Bonjour,",
    "greet.vendor.casual": "Bonjour,",
    "greet.stakeholders.formal": "Mesdames, Messieurs,",
    "greet.stakeholders.casual": "Bonjour à tous,",
    "greet.team.formal": "Bonjour à l'équipe,",
    "greet.team.casual": "Salut l'équipe,",
    "greet.other.formal": "Bonjour,",
    "greet.other.casual": "Bonjour,",
    "email.open.apologetic": (
        "Je suis désolé pour le désagrément lié à {about}, et je vous remercie de votre patience. Voici où "
        "nous en sommes."
    ),
    "email.open.friendly": "Voici un petit point sur {about}.",
    "email.open.concise": "Point sur {about} :",
    "email.open.formal": "Je vous écris pour faire le point sur {about}.",
    "email.status": "État actuel : {status}.",
    "email.assigned": "{name} s'en occupe.",
    "email.due": "L'échéance est le {date}.",
    "email.latest": "Dernière mise à jour : {text}",
    "email.next.done": "Le ticket est résolu. N'hésitez pas à nous prévenir si quelque chose ne fonctionne toujours pas comme prévu.",
    "email.next.in_progress": "Le travail est en cours et nous reviendrons vers vous avec d'autres nouvelles.",
    "email.next.todo": "Le travail n'a pas encore commencé ; nous reviendrons vers vous dès qu'il aura démarré.",
    "email.next.unknown": "Nous reviendrons vers vous avec d'autres nouvelles.",
    "signoff.friendly": "Bien à vous,",
    "signoff.concise": "Cordialement,",
    "signoff.apologetic": "Avec toutes nos excuses, cordialement,",
    "signoff.formal": "Cordialement,",
    "note.title": "**Note de clôture**",
    "note.status_change": "- État : {from_status} \u2192 {to_status}",
    "note.via": " (via \u00ab\u00a0{name}\u00a0\u00bb)",
    "note.status": "- État : {status}",
    "note.what": "- Ce qui a été fait : {words}",
    "note.from": "- De {author} : {text}",
    "note.a_comment": "un commentaire",
    "note.no_details": "- Aucun détail du travail n'est consigné dans la demande ni dans les commentaires récents.",
}
