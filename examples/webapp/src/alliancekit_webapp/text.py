"""The words of the client's pages, per language.

The measure's own text (items, answer labels) comes from the library's SDC Questionnaire in the client's
language; these are only the app's surrounding words (buttons, headings, the refusal and thank-you
pages). They are the example's own translations, kept small on purpose: a host uses its own catalogue.
English is the fallback for a language not listed here.
"""

from __future__ import annotations

ENGLISH = "en"

_TEXT: dict[str, dict[str, str]] = {
    "en": {
        "app": "Your clinic",
        "skip": "Skip to main content",
        "intro": "Please answer every question. There are no right or wrong answers.",
        "required": "required",
        "submit": "Send my answers",
        "errors_title": "There is a problem",
        "answer_missing": "Choose an answer for: {question}",
        "number_invalid": "Enter a number from {low} to {high} for: {question}",
        "thanks_title": "Thank you",
        "thanks_body": "Your answers have been sent to your clinician. You can close this page now.",
        "crisis_title": "Your answers have been sent: please read this now",
        "crisis_body": "Some of your answers tell us you may be going through a very hard time. "
        "Your clinician has been told. If you are in danger now, do not wait:",
        "refused_title": "This link or code cannot be used",
        "refused_body": "Please ask your clinic for a new link or code.",
        "kiosk_title": "Enter your code",
        "kiosk_label": "Code from your clinician",
        "kiosk_hint": "The code is on the card your clinician gave you.",
        "kiosk_missing": "Enter your code",
        "continue": "Continue",
        "next_client": "Back to the code page",
        "form_expired": "This page was open too long. Please send your answers again.",
        "server_error": "Please try again in a few minutes. If it happens again, tell your clinic.",
        "answer_refused": "Check your answer to: {question}",
        "answers_refused": "Some answers could not be accepted. Please check them and send them again.",
        "not_saved_title": "Your answers were not saved",
        "not_saved_body": "Something went wrong on our side, so your answers were not saved. They are kept "
        "on this page: press the button to send them again. If it happens again, tell your clinic.",
        "send_again": "Send my answers again",
    },
    "es": {
        "app": "Su clínica",
        "skip": "Ir al contenido principal",
        "intro": "Por favor, conteste todas las preguntas. No hay respuestas correctas ni incorrectas.",
        "required": "obligatoria",
        "submit": "Enviar mis respuestas",
        "errors_title": "Hay un problema",
        "answer_missing": "Elija una respuesta para: {question}",
        "number_invalid": "Escriba un número de {low} a {high} para: {question}",
        "thanks_title": "Gracias",
        "thanks_body": "Sus respuestas se han enviado a su terapeuta. Ya puede cerrar esta página.",
        "crisis_title": "Sus respuestas se han enviado: lea esto ahora, por favor",
        "crisis_body": "Algunas de sus respuestas nos dicen que puede estar pasando por un momento muy "
        "difícil. Su terapeuta ya lo sabe. Si está en peligro ahora, no espere:",
        "refused_title": "Este enlace o código no se puede usar",
        "refused_body": "Pida a su clínica un enlace o un código nuevo.",
        "kiosk_title": "Escriba su código",
        "kiosk_label": "Código de su terapeuta",
        "kiosk_hint": "El código está en la tarjeta que le dio su terapeuta.",
        "kiosk_missing": "Escriba su código",
        "continue": "Continuar",
        "next_client": "Volver a la página del código",
        "form_expired": "Esta página estuvo abierta demasiado tiempo. Envíe sus respuestas otra vez.",
        "server_error": "Inténtelo de nuevo dentro de unos minutos. Si vuelve a ocurrir, avise a su clínica.",
        "answer_refused": "Revise su respuesta a: {question}",
        "answers_refused": "Algunas respuestas no se pudieron aceptar. Revíselas y envíelas otra vez.",
        "not_saved_title": "Sus respuestas no se han guardado",
        "not_saved_body": "Algo falló de nuestro lado y sus respuestas no se han guardado. Se conservan en "
        "esta página: pulse el botón para enviarlas otra vez. Si vuelve a ocurrir, avise a su clínica.",
        "send_again": "Enviar mis respuestas otra vez",
    },
    "fr": {
        "app": "Votre cabinet",
        "skip": "Aller au contenu principal",
        "intro": "Merci de répondre à toutes les questions. Il n'y a pas de bonne ou de mauvaise réponse.",
        "required": "obligatoire",
        "submit": "Envoyer mes réponses",
        "errors_title": "Il y a un problème",
        "answer_missing": "Choisissez une réponse pour : {question}",
        "number_invalid": "Saisissez un nombre de {low} à {high} pour : {question}",
        "thanks_title": "Merci",
        "thanks_body": "Vos réponses ont été envoyées à votre thérapeute. Vous pouvez fermer cette page.",
        "crisis_title": "Vos réponses ont été envoyées : lisez ceci maintenant",
        "crisis_body": "Certaines de vos réponses nous disent que vous traversez peut-être un moment très "
        "difficile. Votre thérapeute a été prévenu. Si vous êtes en danger maintenant, n'attendez pas :",
        "refused_title": "Ce lien ou ce code ne peut pas être utilisé",
        "refused_body": "Demandez un nouveau lien ou un nouveau code à votre cabinet.",
        "kiosk_title": "Saisissez votre code",
        "kiosk_label": "Code donné par votre thérapeute",
        "kiosk_hint": "Le code est sur la carte que votre thérapeute vous a donnée.",
        "kiosk_missing": "Saisissez votre code",
        "continue": "Continuer",
        "next_client": "Retour à la page du code",
        "form_expired": "Cette page est restée ouverte trop longtemps. Envoyez vos réponses à nouveau.",
        "server_error": "Réessayez dans quelques minutes. Si cela se reproduit, prévenez votre cabinet.",
        "answer_refused": "Vérifiez votre réponse à : {question}",
        "answers_refused": "Certaines réponses n'ont pas pu être acceptées. Vérifiez-les et envoyez-les à "
        "nouveau.",
        "not_saved_title": "Vos réponses n'ont pas été enregistrées",
        "not_saved_body": "Un problème de notre côté a empêché l'enregistrement de vos réponses. Elles sont "
        "gardées sur cette page : appuyez sur le bouton pour les envoyer à nouveau. Si cela se reproduit, "
        "prévenez votre cabinet.",
        "send_again": "Envoyer à nouveau mes réponses",
    },
}


def page_language(language: str | None) -> str:
    """The language the page is written in: ``language`` (a BCP 47 tag) when the app has its words (or
    those of its primary subtag), English otherwise."""
    if language:
        if language in _TEXT:
            return language
        primary = language.split("-")[0].lower()
        if primary in _TEXT:
            return primary
    return ENGLISH


def words(language: str | None) -> dict[str, str]:
    """The app's words in ``language`` (see :func:`page_language`)."""
    return _TEXT[page_language(language)]
