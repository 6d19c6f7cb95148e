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


def render(result, fmt: str = "table") -> str:
    return RENDERERS[fmt](result)
