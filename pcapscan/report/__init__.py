"""Renderers: an AnalysisResult in, text out. No analysis happens here."""
from . import csvfmt, jsonfmt, markdown, nmapxml, table

RENDERERS = {
    "table": table.render,
    "json": jsonfmt.render,
    "csv": csvfmt.render,
    "markdown": markdown.render,
    "nmap-xml": nmapxml.render,
}
FORMATS = tuple(RENDERERS)


# The formats people read, worded in English or Chinese (--lang); the machine
# formats (json, csv, nmap-xml) are English whatever the language.
WORDED = {"table": lambda result, lang: table.render(result, lang=lang), "markdown": markdown.render}


def render(result, fmt: str = "table", lang: str = "en") -> str:
    if fmt in WORDED:
        return WORDED[fmt](result, lang)
    return RENDERERS[fmt](result)
