"""HTML to PDF with WeasyPrint: tagged (PDF/UA-1), fonts embedded, the same bytes every time,
and nothing fetched but the package's own letter assets."""

from __future__ import annotations

import mimetypes
import threading
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

from weasyprint import HTML
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher, URLFetcherResponse

ASSETS = Path(__file__).resolve().parent / "assets"
BASE_URL = ASSETS.as_uri() + "/"


class AssetOnlyFetcher(URLFetcher):
    """Serves files under ``assets/`` and refuses everything else, stopping the render.

    ``requested`` keeps every URL asked for, so tests can prove nothing else was fetched.
    """

    def __init__(self) -> None:
        super().__init__(allowed_protocols=("file",), fail_on_errors=True)
        self.requested: list[str] = []

    def fetch(self, url: str, headers=None) -> URLFetcherResponse:
        self.requested.append(url)
        parts = urlsplit(url)
        path = Path(unquote(parts.path)).resolve() if parts.scheme == "file" else None
        if path is None or parts.netloc or not path.is_relative_to(ASSETS) or not path.is_file():
            raise PermissionError(f"letters may only use casework's own assets, not {url!r}")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return URLFetcherResponse(url, path.read_bytes(), {"Content-Type": media_type})


_local = threading.local()


def _font_config() -> FontConfiguration:
    """One font configuration per thread: a fresh one per document (WeasyPrint's default) grows
    memory with every letter and costs about a fifth of each render."""
    config = getattr(_local, "font_config", None)
    if config is None:
        config = _local.font_config = FontConfiguration()
    return config


def html_to_pdf(html: str, *, fetcher: AssetOnlyFetcher | None = None) -> bytes:
    """The PDF of ``html``; its title, language, author and dates come from the HTML head
    (``<title>``, ``lang``, ``<meta name=author>``, ``dcterms.created``/``modified``)."""
    document = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher or AssetOnlyFetcher())
    return document.write_pdf(
        pdf_variant="pdf/ua-1", pdf_identifier=b"casework-letter", font_config=_font_config()
    )


def pdf_timestamp(moment: datetime) -> str:
    """A fixed creation date for the HTML head (W3C date-time, as WeasyPrint reads it)."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
