"""The PDF writer: same bytes every time, tagged PDF/UA with its metadata, fonts embedded, and
nothing fetched but casework's own assets."""

from __future__ import annotations

import io
import threading
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader
from weasyprint.urls import FatalURLFetchingError

from casework.documents.pdf import ASSETS, AssetOnlyFetcher, html_to_pdf, pdf_timestamp

STAMP = pdf_timestamp(datetime(2026, 11, 22, 10, 30, tzinfo=UTC))


def page(body: str, title: str = "Attendance letter") -> str:
    return f"""<!doctype html>
<html lang="en-GB"><head><meta charset="utf-8"><title>{title}</title>
<meta name="author" content="Green Labyrinth">
<meta name="dcterms.created" content="{STAMP}"><meta name="dcterms.modified" content="{STAMP}">
<style>
@font-face {{ font-family: Letter; src: url(fonts/DejaVuSans.ttf) }}
@font-face {{ font-family: Letter; font-weight: bold; src: url(fonts/DejaVuSans-Bold.ttf) }}
body {{ font-family: Letter }}
</style></head><body>{body}</body></html>"""


def test_same_html_same_bytes():
    html = page("<h1>Attendance</h1><p>Sam's attendance is 80%.</p>")
    assert html_to_pdf(html) == html_to_pdf(html)


def test_tagged_with_title_language_author_and_fixed_dates():
    reader = PdfReader(io.BytesIO(html_to_pdf(page("<h1>Attendance</h1><p>Text</p>"))))
    root = reader.trailer["/Root"]
    assert bool(root["/MarkInfo"]["/Marked"])
    assert "/StructTreeRoot" in root
    assert root["/Lang"] == "en-GB"
    info = reader.metadata
    assert info.title == "Attendance letter" and info.author == "Green Labyrinth"
    assert info["/CreationDate"].startswith("D:20261122103000")
    assert "Sam" not in reader.pages[0].extract_text()  # sanity: the text is what we wrote
    assert "Attendance" in reader.pages[0].extract_text()


def test_fonts_are_embedded():
    reader = PdfReader(io.BytesIO(html_to_pdf(page("<p>Plain <b>bold</b></p>"))))
    fonts = reader.pages[0]["/Resources"]["/Font"]
    names = []
    for ref in fonts.values():
        font = ref.get_object()
        descriptor = font["/DescendantFonts"][0].get_object()["/FontDescriptor"].get_object()
        names.append(str(font["/BaseFont"]))
        assert "/FontFile2" in descriptor, f"{font['/BaseFont']} is not embedded"
    # Subset names: "ABCDEF+Letter" and "ABCDEF+Letter-Bold" (the CSS family shipped as DejaVu).
    assert sorted(n.split("+", 1)[1] for n in names) == ["Letter", "Letter-Bold"]


@pytest.mark.parametrize(
    "reference",
    [
        '<img src="file:///etc/passwd">',
        '<link rel="stylesheet" href="http://127.0.0.1:1/x.css">',
        "<style>@import url(http://127.0.0.1:1/);</style>",
        '<img src="fonts/../../pdf.py">',
    ],
)
def test_anything_but_the_assets_stops_the_render(reference):
    fetcher = AssetOnlyFetcher()
    with pytest.raises(FatalURLFetchingError):
        html_to_pdf(page(reference + "<p>x</p>"), fetcher=fetcher)
    outside = [u for u in fetcher.requested if not u.startswith(ASSETS.as_uri() + "/fonts/")]
    assert len(outside) == 1  # asked once, refused, nothing read


def test_only_the_assets_are_fetched():
    # A new thread has a new font configuration, so its first render fetches the fonts.
    fetcher = AssetOnlyFetcher()
    worker = threading.Thread(
        target=html_to_pdf, args=(page("<p>x</p>"),), kwargs={"fetcher": fetcher}
    )
    worker.start()
    worker.join()
    assert fetcher.requested and all(
        u.startswith(ASSETS.as_uri() + "/fonts/") for u in fetcher.requested
    )
