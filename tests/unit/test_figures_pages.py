"""services/runtime/figures.py page_of: the keyset pages of a computation's figures (issue 14)."""

from __future__ import annotations

from services.runtime.figures import FigureRow, page_of


def test_pages_walk_every_row_once_even_where_two_rows_share_a_key() -> None:
    """Figures are unique by (department, name, dimension); should two ever share one, the token counts how many
    of that key were given, so the walk neither repeats nor skips one at a page boundary."""
    rows = sorted([FigureRow("d1", "a", "", 1), FigureRow("d1", "b", "x=1", 2), FigureRow("d1", "b", "x=1", 3),
                   FigureRow("d1", "b", "x=1", 4), FigureRow("d2", "a", "", 5)],
                  key=lambda r: (r.department_code, r.name, r.dimension))
    for size in (1, 2, 3, 4, 5, 6):
        walked, position = [], None
        while True:
            page, following = page_of(rows, position, size)
            assert len(page) <= size
            walked += page
            if following is None:
                break
            position = (tuple(following["k"]), following["n"])
        assert walked == rows, size


def test_the_last_page_has_no_token() -> None:
    rows = [FigureRow("d1", "a", "", 1), FigureRow("d1", "b", "", 1)]
    assert page_of(rows, None, 2) == (rows, None)
    assert page_of([], None, 2) == ([], None)
