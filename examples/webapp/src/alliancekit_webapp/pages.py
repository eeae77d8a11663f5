"""Server-rendered HTML: the page frame and the client's pages (questionnaire, kiosk code, thank-you,
crisis, refusal). Every value that comes from elsewhere is escaped; there is no script.
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape

from alliancekit_webapp.questionnaire import (
    Answered,
    Part,
    error_message,
    first_input_id,
    lang_attribute,
    questions,
    render_question,
)
from alliancekit_webapp.text import page_language, words


def page(
    title: str,
    body: str,
    *,
    language: str = "en",
    brand: str = "",
    nav: str = "",
    skip: str = "Skip to content",
    wide: bool = False,
) -> str:
    """A whole page: one ``<h1>`` in ``body``, landmarks (banner, main), a skip link, the phone viewport."""
    main_class = ' class="wide"' if wide else ""
    return (
        f'<!doctype html><html lang="{escape(language)}"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<title>{escape(title)}</title><link rel="stylesheet" href="/static/app.css"></head><body>'
        f'<a class="skip" href="#main">{escape(skip)}</a>'
        f'<header class="banner"><p class="brand">{escape(brand)}</p>{nav}</header>'
        f'<main id="main" tabindex="-1"{main_class}>{body}</main></body></html>'
    )


def error_summary(title: str, links: list[tuple[str, str]], notice: str | None = None) -> str:
    """The error summary at the top of a form sent back: focused when the page loads, announced, one link
    per problem to the field it is about (``(target id, message as HTML)``)."""
    items = "".join(f'<li><a href="#{escape(target)}">{message}</a></li>' for target, message in links)
    extra = f"<p>{escape(notice)}</p>" if notice else ""
    return (
        '<div class="error-summary" role="alert" aria-labelledby="error-summary-title" tabindex="-1"'
        f' autofocus><h2 id="error-summary-title">{escape(title)}</h2>{extra}<ul>{items}</ul></div>'
    )


def csrf_input(token: str) -> str:
    return f'<input type="hidden" name="csrf" value="{escape(token)}">'


def questionnaire_page(
    *,
    title: str,
    language: str,
    content_language: str,
    parts: list[Part],
    action: str,
    hidden: Mapping[str, str],
    answered: Answered | None = None,
    notice: str | None = None,
) -> str:
    """The measure as a form: an error summary linked to each question left wrong (focused on load), then
    the stem and questions. The page's own words are in the client's ``language``; the measure's title and
    questions are marked with the language the Questionnaire is written in (``content_language``), which
    differs when the measure has no text in the client's language, so assistive technology reads each part
    in its own language."""
    text = words(language)
    chosen = answered.chosen if answered else {}
    # the app's words inside the form (marked with the measure's language) and the measure's words inside
    # the app's sentences are each marked with their own language when the two differ
    own = page_language(language)
    mixed = own != content_language
    errors = {
        q.field: error_message(q, kind, text, content_language if mixed else None)
        for q, kind in (answered.errors if answered else [])
    }
    # the page's own words fall back to English; the measure's title and form keep their language
    out = [f'<h1 lang="{escape(content_language)}">{escape(title)}</h1>']
    if errors or notice:
        links = [(first_input_id(q), errors[q.field]) for q in questions(parts) if q.field in errors]
        out.append(error_summary(text["errors_title"], links, notice))
    out.append(f'<p class="muted">{escape(text["intro"])}</p>')
    fields = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in hidden.items()
    )
    form_tag = f'<form method="post" action="{escape(action)}" novalidate lang="{escape(content_language)}">'
    out.append(form_tag + fields)
    for part in parts:
        if part.kind == "heading":
            out.append(f"<h2>{escape(part.text)}</h2>")
        elif part.kind == "text":
            out.append(f"<p>{escape(part.text)}</p>")
        elif part.question is not None:
            q = part.question
            out.append(
                render_question(q, chosen.get(q.field, ""), errors.get(q.field), text, own if mixed else None)
            )
    button_lang = lang_attribute(own if mixed else None)
    out.append(f'<button type="submit"{button_lang}>{escape(text["submit"])}</button></form>')
    return client_page(title, "".join(out), page_language(language))


def client_page(title: str, body: str, language: str | None) -> str:
    """A client's page, ``lang`` set to ``language`` (the app's own words fall back to English)."""
    text = words(language)
    return page(title, body, language=language or page_language(None), brand=text["app"], skip=text["skip"])


def thanks_page(language: str | None, *, kiosk: bool) -> str:
    text = words(language)
    again = f'<p><a href="/kiosk">{escape(text["next_client"])}</a></p>' if kiosk else ""
    body = f"<h1>{escape(text['thanks_title'])}</h1><p>{escape(text['thanks_body'])}</p>{again}"
    return client_page(text["thanks_title"], body, page_language(language))


def crisis_page(language: str | None, crisis_information: str | None, *, kiosk: bool) -> str:
    """Shown instead of the thank-you page when the submission says so: the clinic's crisis information,
    first and in large type, in words (never a colour alone)."""
    text = words(language)
    info = crisis_information or ""
    again = f'<p><a href="/kiosk">{escape(text["next_client"])}</a></p>' if kiosk else ""
    body = (
        f'<h1>{escape(text["crisis_title"])}</h1><div class="crisis" role="alert">'
        f'<p>{escape(text["crisis_body"])}</p><p class="crisis-info">{escape(info)}</p></div>{again}'
    )
    return client_page(text["crisis_title"], body, page_language(language))


def refused_page(language: str | None = None) -> str:
    """The one page for every refusal (forged, expired, revoked or used token, wrong kiosk code, too many
    attempts, a stale form): it says nothing about which."""
    text = words(language)
    body = f"<h1>{escape(text['refused_title'])}</h1><p>{escape(text['refused_body'])}</p>"
    return client_page(text["refused_title"], body, page_language(language))


def not_saved_page(language: str | None, fields: Mapping[str, str]) -> str:
    """The store failed while answers were sent: nothing was saved, and one button sends the same
    ``fields`` (the answers and the form's own) again. No detail of the error."""
    text = words(language)
    hidden = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    body = (
        f'<h1>{escape(text["not_saved_title"])}</h1><div role="alert"><p>{escape(text["not_saved_body"])}'
        f'</p></div><form method="post" action="/respond">{hidden}'
        f'<button type="submit">{escape(text["send_again"])}</button></form>'
    )
    return client_page(text["not_saved_title"], body, page_language(language))


def server_error_page() -> str:
    """What an unexpected error shows: no detail of it, in every language the app has."""
    paragraphs = "".join(
        f'<p lang="{tag}">{escape(words(tag)["server_error"])}</p>' for tag in ("en", "es", "fr")
    )
    return page("Something went wrong", f"<h1>Something went wrong</h1>{paragraphs}")


def kiosk_page(csrf: str, language: str | None = None, *, missing: bool = False) -> str:
    text = words(language)
    error = ""
    described = "kiosk-hint"
    if missing:
        error = error_summary(text["errors_title"], [("code", escape(text["kiosk_missing"]))])
        described = "kiosk-hint code-error"
    field_error = (
        f'<p class="field-error" id="code-error">{escape(text["kiosk_missing"])}</p>' if missing else ""
    )
    body = (
        f'<h1>{escape(text["kiosk_title"])}</h1>{error}<form method="post" action="/kiosk" novalidate>'
        f'{csrf_input(csrf)}<input type="hidden" name="lang" value="{escape(page_language(language))}">'
        f'<div class="form-row"><label class="field" for="code">'
        f"{escape(text['kiosk_label'])}</label>"
        f'<p class="hint" id="kiosk-hint">{escape(text["kiosk_hint"])}</p>'
        f'{field_error}<input class="code" type="text" id="code" name="code" autocomplete="off"'
        f' autocapitalize="characters" spellcheck="false" aria-describedby="{described}" required></div>'
        f'<button type="submit">{escape(text["continue"])}</button></form>'
    )
    return client_page(text["kiosk_title"], body, page_language(language))
