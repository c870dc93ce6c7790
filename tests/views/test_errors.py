"""Error pages are plain pages, never a stack trace."""

from __future__ import annotations

from casework import create_app


def test_unknown_page_is_a_plain_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert "There is no page at this address." in page
    assert "Traceback" not in page


def test_unexpected_error_is_a_plain_500(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite'}"})

    def boom():
        raise RuntimeError("secret internals")

    app.view_functions["home.index"] = boom  # a public page failing, unexpectedly
    response = app.test_client().get("/")
    assert response.status_code == 500
    page = response.get_data(as_text=True)
    assert "Something went wrong on our side" in page
    assert "secret internals" not in page and "Traceback" not in page
