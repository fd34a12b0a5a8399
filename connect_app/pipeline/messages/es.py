# ruff: noqa: E501 - one text per line reads better than wrapped fragments
"""Spanish fixed texts (keys as in ``en``; a missing key falls back to English)."""

from __future__ import annotations

TEXTS: dict[str, str] = {
    "offline.label": "_Borrador sin conexión — generado a partir de los datos de la incidencia, sin un modelo de IA._",
    "offline.label_merged": "_{note}. Se redactó con plantillas a partir de los datos de la incidencia, no con un modelo de IA._",
    "fallback.no_model": "Borrador sin conexión: no hay ningún modelo de IA configurado.",
    "fallback.budget_exceeded": "Borrador sin conexión: el presupuesto diario de IA de este sitio se ha agotado.",
    "fallback.circuit_open": "Borrador sin conexión: el servicio de IA no está disponible en este momento.",
    "fallback.llm_error": "Borrador sin conexión: el servicio de IA no pudo responder esta vez.",
    "fallback.reply_rejected": "Borrador sin conexión: la respuesta de la IA no superó las comprobaciones del asistente.",
    "action.already_done": "{key} ya está en **{status}**, así que no había nada que cambiar.",
    "action.no_requester": "No pude saber quién lo pidió, así que no cambié nada.",
    "action.request_unconfirmed": (
        "No pude confirmar esta solicitud con Jira (el comentario se modificó o se eliminó), así que no "
        "cambié nada. Vuelve a pedirlo en un comentario nuevo si todavía hace falta."
    ),
    "action.permission_denied": (
        "No puedo marcar {key} como completada por ti: tus permisos de Jira no permiten cambiar el estado de "
        "esta incidencia. No se ha cambiado nada. Alguien con el permiso *Transicionar incidencias* puede "
        "hacerlo."
    ),
    "action.no_done_transition": (
        "No encontré ninguna transición de **{status}** a un estado completado en el flujo de trabajo de "
        "esta incidencia, así que no se ha cambiado nada."
    ),
    "failure.note": (
        "Lo siento, no pude completar tu solicitud ({why}). No se ha cambiado nada. Inténtalo de nuevo en "
        "unos minutos; si sigue fallando, avisa a tu administrador de Jira (referencia: {code})."
    ),
    "failure.llm_error": "el servicio de IA no respondió",
    "failure.jira_error": "Jira no aceptó mi respuesta",
    "failure.jira_unavailable": "no se pudo contactar con Jira",
    "failure.jira_rate_limited": "Jira me pidió que fuera más despacio",
    "failure.reply_invalid": "la respuesta que escribí no superó mis controles de calidad",
    "failure.storage_error": "mi almacenamiento no estaba disponible",
    "failure.circuit_open": "un servicio del que dependo se está recuperando de una interrupción",
    "failure.jira_forbidden": "Jira no permitió que la aplicación lo hiciera",
    "failure.unknown": "algo salió mal",
    "rate.user": (
        "Me has pedido muchas cosas {window}, así que hago una pausa para ti. Aceptaré solicitudes nuevas "
        "dentro de unos {wait}; vuelve a pedirlo entonces. No se ha cambiado nada."
    ),
    "rate.site": (
        "Las personas de este sitio me han pedido muchas cosas {window}, así que hago una pausa para este "
        "sitio. Aceptaré solicitudes nuevas dentro de unos {wait}; vuelve a pedirlo entonces. No se ha "
        "cambiado nada."
    ),
    "window.minute": "en el último minuto",
    "window.hour": "en la última hora",
    "window.seconds": "en los últimos {n} segundos",
    "wait.second": "1 segundo",
    "wait.seconds": "{n} segundos",
    "wait.minutes": "{n} minutos",
    "help.intro": "**Esto es lo que puedo hacer.** Escribe `{trigger}` seguido de tu solicitud en un comentario:",
    "help.or": " o ",
    "help.refine": "Ajustar mi última respuesta",
    "help.transition_note": (
        "Completar una tarea mueve la incidencia a su estado completado solo si tus permisos y el flujo de "
        "trabajo lo permiten."
    ),
    "help.tone_note": (
        "Pide un tono con palabras como *formal*, *amable*, *breve* o *disculpa*. "
        "Respondo en el idioma en el que escribes."
    ),
    "cap.summary_request": "Resumir la incidencia",
    "cap.email_request": "Redactar un correo",
    "cap.comment_request": "Escribir un comentario",
    "cap.task_completion": "Completar la tarea",
    "example.summary_request": "resume esta incidencia",
    "example.email_request": "redacta un correo al cliente sobre el retraso",
    "example.comment_request": "escribe un comentario con el estado para el equipo",
    "example.task_completion": "marca esto como completado y anota qué se arregló",
    "example2.summary_request": "¿cuál es el estado?",
    "example2.comment_request": "responde a la pregunta del informador",
    "example.shorter": "más corto",
    "example.formal": "más formal",
    "do.summary_request": "resuma la incidencia",
    "do.email_request": "redacte un correo",
    "do.comment_request": "escriba un comentario",
    "do.task_completion": "complete o cierre la incidencia",
    "clarify.unsure_echo": "No tengo claro qué quieres que haga con \u00ab{echo}\u00bb.",
    "clarify.unsure": "No tengo claro qué quieres que haga.",
    "clarify.negated": "Entendí que no quieres que {action}, así que no lo he hecho.",
    "clarify.maybe": "Parece que quieres que {action}.",
    "clarify.i_can": "Puedo:",
    "clarify.item": "- {label}, por ejemplo {example}",
    "clarify.which": "¿Qué prefieres?",
    "field.status": "Estado",
    "field.assignee": "Responsable",
    "field.unassigned": "Sin asignar",
    "field.priority": "Prioridad",
    "field.due_date": "Fecha de vencimiento",
    "field.not_set": "sin fijar",
    "field.not_recorded": "sin registrar",
    "field.reporter": "Informador",
    "field.labels": "Etiquetas",
    "someone": "alguien",
    "someone_start": "Alguien",
    "summary.title": "**Resumen de {title}**",
    "summary.current_state": "**Situación actual**",
    "summary.background": "**Contexto**",
    "summary.no_description": "Todavía no se ha escrito ninguna descripción.",
    "summary.recent": "**Actividad reciente**",
    "summary.no_comments": "- Todavía no hay comentarios.",
    "summary.decisions": "**Decisiones**",
    "summary.no_decisions": "- Ninguna registrada en los comentarios.",
    "summary.questions": "**Preguntas abiertas**",
    "summary.no_questions": "- No se encontró ninguna en los comentarios.",
    "comment.cant_rewrite": (
        "No puedo reescribir la respuesta anterior sin un modelo de IA; aquí tienes una actualización de "
        "estado nueva a partir de los datos de la incidencia."
    ),
    "comment.cant_tailor": (
        "No puedo escribir una respuesta a medida sin un modelo de IA, así que aquí tienes la situación "
        "actual registrada en la incidencia."
    ),
    "comment.title": "**Actualización de estado de {title}**",
    "comment.latest": "- Última actualización ({who}{when}): {text}",
    "comment.questions": "Preguntas abiertas:",
    "next.done": "Siguiente paso: ninguno registrado; la incidencia está resuelta.",
    "next.in_progress": "Siguiente paso: el trabajo está en curso; no hay más pasos registrados en la incidencia.",
    "next.todo": "Siguiente paso: el trabajo aún no ha empezado.",
    "next.unknown": "Siguiente paso: no registrado en la incidencia.",
    "email.subject_purpose": "Novedades sobre {purpose}: {subject}",
    "email.subject": "Novedades: {subject}",
    "email.dear_name": "Estimado/a {name}:",
    "email.hi_name": "Hola, {name}:",
    "greet.customer.formal": "Estimado cliente:",
    "greet.customer.casual": "Hola:",
    "greet.vendor.formal": "Buenos días:",
    "greet.vendor.casual": "Hola:",
    "greet.stakeholders.formal": "Estimados interesados:",
    "greet.stakeholders.casual": "Hola a todos:",
    "greet.team.formal": "Hola, equipo:",
    "greet.team.casual": "Hola, equipo:",
    "greet.other.formal": "Buenos días:",
    "greet.other.casual": "Hola:",
    "email.open.apologetic": (
        "Lamento las molestias relacionadas con {about} y le agradezco su paciencia. Esta es la situación "
        "actual."
    ),
    "email.open.friendly": "Aquí va una breve actualización sobre {about}.",
    "email.open.concise": "Actualización sobre {about}:",
    "email.open.formal": "Le escribo para informarle sobre {about}.",
    "email.status": "Estado actual: {status}.",
    "email.assigned": "{name} se encarga de ello.",
    "email.due": "La fecha de vencimiento es el {date}.",
    "email.latest": "Última actualización: {text}",
    "email.next.done": "La incidencia está resuelta. Avísenos si algo sigue sin funcionar como se espera.",
    "email.next.in_progress": "El trabajo está en curso y le enviaremos más novedades.",
    "email.next.todo": "El trabajo aún no ha empezado; le informaremos en cuanto empiece.",
    "email.next.unknown": "Le enviaremos más novedades.",
    "signoff.friendly": "Un saludo,",
    "signoff.concise": "Saludos,",
    "signoff.apologetic": "Con nuestras disculpas, un cordial saludo,",
    "signoff.formal": "Atentamente,",
    "note.title": "**Nota de cierre**",
    "note.status_change": "- Estado: {from_status} \u2192 {to_status}",
    "note.via": " (mediante \u00ab{name}\u00bb)",
    "note.status": "- Estado: {status}",
    "note.what": "- Qué se hizo: {words}",
    "note.from": "- De {author}: {text}",
    "note.a_comment": "un comentario",
    "note.no_details": "- No se registraron detalles del trabajo en la solicitud ni en los comentarios recientes.",
}
