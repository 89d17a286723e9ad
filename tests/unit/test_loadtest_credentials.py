"""Loading the demo credentials a load test calls with (loadtest.credentials)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from loadtest.credentials import CredentialsError, bearer, default_path, load_credentials
from services.demo import DemoCredentials


def write_demo(path: Path, **changes: object) -> Path:
    credentials = DemoCredentials(
        gateway="127.0.0.1:50051",
        systems={"social": {"system_id": "sys-abc", "secret": "s3cret", "department": "11110100MB0000006X",
                            "name": "市人力资源和社会保障局"}},
        resources={"人口基本信息": "101001/000001"}, persons=10_000, seed=42)
    for key, value in changes.items():
        setattr(credentials, key, value)
    credentials.save(path)
    return path


def test_loads_what_govshare_up_wrote(tmp_path: Path) -> None:
    credentials = load_credentials(write_demo(tmp_path / "demo-credentials.json"))
    assert credentials.gateway == "127.0.0.1:50051"
    assert credentials.systems["social"]["secret"] == "s3cret"
    assert (credentials.persons, credentials.seed) == (10_000, 42)


def test_a_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="govshare up"):
        load_credentials(tmp_path / "nope.json")


def test_every_problem_is_named_at_once(tmp_path: Path) -> None:
    path = write_demo(tmp_path / "c.json", gateway="", persons=0)
    with pytest.raises(CredentialsError) as error:
        load_credentials(path, system="police")
    message = str(error.value)
    assert "no gateway address" in message
    assert "no system 'police' (it has social)" in message
    assert "no seeded persons" in message


def test_a_system_without_its_secret_is_refused(tmp_path: Path) -> None:
    path = write_demo(tmp_path / "c.json", systems={"social": {"system_id": "sys-abc", "secret": ""}})
    with pytest.raises(CredentialsError, match="lacks its id or secret"):
        load_credentials(path)


@pytest.mark.parametrize("content", ["{not json", json.dumps({"gateway": "x", "unexpected": 1})])
def test_a_file_of_another_shape_is_refused(tmp_path: Path, content: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(CredentialsError, match="not a demo credentials file"):
        load_credentials(path)


def test_a_directory_is_named_not_a_traceback(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match=r"Is a directory: give the demo-credentials\.json"):
        load_credentials(tmp_path)


def test_default_path_follows_the_data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("GOVSHARE_DATA_DIR", raising=False)
    assert default_path() == Path(".govshare") / "demo-credentials.json"
    monkeypatch.setenv("GOVSHARE_DATA_DIR", str(tmp_path))
    assert default_path() == tmp_path / "demo-credentials.json"


def test_bearer_metadata() -> None:
    assert bearer("t0k") == (("authorization", "Bearer t0k"),)


def test_a_file_not_in_utf_8_is_named_so(tmp_path: Path) -> None:
    """Saved as UTF-16 (Windows Notepad's "Unicode"): a UnicodeDecodeError traceback."""
    path = tmp_path / "c.json"
    path.write_bytes(json.dumps({"gateway": "127.0.0.1:50051"}).encode("utf-16"))
    with pytest.raises(CredentialsError, match=r"is not UTF-8 text .* save it as UTF-8"):
        load_credentials(path)


@pytest.mark.parametrize(("changes", "message"), [
    ({"systems": {"social": "sys-abc"}}, "system 'social' is not an object with system_id and secret"),
    ({"persons": "10000"}, "persons is not a whole number"),
    ({"seed": None}, "seed is not a whole number"),
    ({"gateway": 50051}, "gateway is not a HOST:PORT string"),
    ({"systems": ["social"]}, "systems is not an object of systems by name"),
])
def test_a_field_of_another_type_is_named(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    """A file edited by hand: an AttributeError or TypeError traceback, not the field."""
    with pytest.raises(CredentialsError, match=message):
        load_credentials(write_demo(tmp_path / "c.json", **changes))
