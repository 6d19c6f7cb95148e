"""Renderers: an AnalysisResult in, text out. No analysis happens here.

Each format's module is imported when that format is asked for: writing JSON
or CSV never loads tabulate (table, Markdown) nor ElementTree (nmap XML),
which every start-up of `analyze` would otherwise pay for."""


def _table(result, lang: str = "en") -> str:
    from . import table

    return table.render(result, lang=lang)


def _json(result) -> str:
    from . import jsonfmt

    return jsonfmt.render(result)


def _csv(result) -> str:
    from . import csvfmt

    return csvfmt.render(result)


def _markdown(result, lang: str = "en") -> str:
    from . import markdown

    return markdown.render(result, lang)


def _nmapxml(result) -> str:
    from . import nmapxml

    return nmapxml.render(result)


RENDERERS = {"table": _table, "json": _json, "csv": _csv, "markdown": _markdown, "nmap-xml": _nmapxml}
FORMATS = tuple(RENDERERS)

# The formats people read, worded in English or Chinese (--lang); the machine
# formats (json, csv, nmap-xml) are English whatever the language.
WORDED = ("table", "markdown")


def render(result, fmt: str = "table", lang: str = "en") -> str:
    if fmt in WORDED:
        return RENDERERS[fmt](result, lang)
    return RENDERERS[fmt](result)
