"""The pmg role never publishes keys read from PMG over an unverified connection (issue 19,
point 11): with pmg__validate_certs false and somewhere to publish, it stops at its first
task, before PMG's API is contacted, saying why; with nowhere to publish it goes on. The real
role, run by ansible-playbook against localhost in check mode (tests/test_role_inputs.py);
no PMG answers there, so a run that passes the guard stops at a later task."""

from __future__ import annotations

from pathlib import Path

from tests.test_role_inputs import run_role

GUARD = "Refuse to publish keys read from PMG over an unverified connection"
FIRST_API_CALL = "Read PMG's version, node and SMTP certificate"
NEXT = "Check every object of the description before anything reaches PMG"
API = {"pmg__api_url": "https://127.0.0.1:9", "pmg__api_password": "unused"}


def test_unverified_keys_are_never_published(tmp_path: Path) -> None:
    published = tmp_path / "published"
    extra = {**API, "pmg__validate_certs": False, "pmg__published_dir": str(published)}
    result = run_role("pmg", tmp_path, extra)
    out = result.stdout + result.stderr
    assert result.returncode != 0, out
    assert GUARD in out
    assert "pmg__validate_certs is false" in out
    assert "would be published in DNS" in out
    assert FIRST_API_CALL not in out
    assert not published.exists()


def test_unverified_with_nowhere_to_publish_goes_on(tmp_path: Path) -> None:
    extra = {**API, "pmg__validate_certs": False, "pmg__published_dir": ""}
    result = run_role("pmg", tmp_path, extra)
    out = result.stdout + result.stderr
    assert "pmg__validate_certs is false" not in out
    assert NEXT in out


def test_verified_keys_are_published(tmp_path: Path) -> None:
    extra: dict[str, object] = {**API, "pmg__published_dir": str(tmp_path / "published")}
    result = run_role("pmg", tmp_path, extra)
    out = result.stdout + result.stderr
    assert "pmg__validate_certs is false" not in out
    assert NEXT in out
