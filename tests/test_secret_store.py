"""SecretStore: the encrypted-file backend, the keyring backend over a fake, probing and mask()."""
from __future__ import annotations

import json
import logging
import os
import stat

import pytest
from keyring.backends import chainer, fail, null

from ksef_local.errors import UserError
from ksef_local.store import secrets as secret_store
from ksef_local.store.secrets import SecretsCorrupted, SecretStore, SecretStoreUnavailable, mask

TOKEN = "20251010-EC-1A2B3C4D5E-6F7A8B9C0D-11|nip-5261040828|" + "ab12" * 15 + "3f2a"


class MemoryKeyring:
    """A stand-in for an OS keyring (the KeyringBackend methods SecretStore calls)."""

    def __init__(self) -> None:
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        del self.items[(service, username)]


def test_file_backend_round_trip(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    assert store.backend_name == "file"
    assert store.get("ksef-token/TEST/5261040828") is None
    store.set("ksef-token/TEST/5261040828", TOKEN)
    store.set("other", "zażółć gęślą jaźń")
    again = SecretStore(tmp_path, backend="file")
    assert again.get("ksef-token/TEST/5261040828") == TOKEN
    assert again.get("other") == "zażółć gęślą jaźń"
    again.delete("other")
    again.delete("never-stored")
    assert SecretStore(tmp_path, backend="file").get("other") is None


def test_env_var_forces_the_file_backend(tmp_path, monkeypatch):
    monkeypatch.setenv(secret_store.ENV_BACKEND, "file")
    assert SecretStore(tmp_path).backend_name == "file"


@pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")
def test_files_are_private_to_the_owner(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    store.set("name", TOKEN)
    for name in (secret_store.SECRETS_FILE, secret_store.KEY_FILE, secret_store.META_FILE):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600, name
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_file_holds_no_plaintext(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    store.set("ksef-token/PROD/5261040828", TOKEN)
    for path in tmp_path.iterdir():
        data = path.read_bytes()
        assert TOKEN.encode() not in data and b"ab12ab12" not in data, path.name
    assert b"ksef-token" not in (tmp_path / secret_store.SECRETS_FILE).read_bytes()  # names are secret too


def test_key_is_created_once_and_kept(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    store.set("a", TOKEN)
    key = (tmp_path / secret_store.KEY_FILE).read_bytes()
    assert len(key) == 32
    store.set("b", TOKEN)
    SecretStore(tmp_path, backend="file").set("c", TOKEN)
    assert (tmp_path / secret_store.KEY_FILE).read_bytes() == key


def test_wrong_key_raises_a_polish_error_without_the_secret(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    store.set("ksef-token/TEST/5261040828", TOKEN)
    (tmp_path / secret_store.KEY_FILE).write_bytes(os.urandom(32))
    with pytest.raises(SecretsCorrupted) as caught:
        store.get("ksef-token/TEST/5261040828")
    assert isinstance(caught.value, UserError)
    assert "uszkodzony" in caught.value.message and "kopii zapasowej" in caught.value.message
    assert TOKEN not in str(caught.value) and "3f2a" not in str(caught.value)


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage"])
def test_corrupted_file_raises_a_typed_error(tmp_path, damage):
    store = SecretStore(tmp_path, backend="file")
    store.set("name", TOKEN)
    path = tmp_path / secret_store.SECRETS_FILE
    data = bytearray(path.read_bytes())
    if damage == "truncate":
        data = data[:10]
    elif damage == "flip":
        data[-1] ^= 1
    else:
        data = bytearray(b"{not encrypted at all}")
    path.write_bytes(bytes(data))
    with pytest.raises(SecretsCorrupted, match="Nie można odczytać"):
        store.get("name")
    with pytest.raises(SecretsCorrupted):  # never silently replaced by an empty store
        store.set("other", TOKEN)
    assert path.read_bytes() == bytes(data)


def test_missing_key_with_existing_secrets_is_an_error_not_a_new_key(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    store.set("name", TOKEN)
    (tmp_path / secret_store.KEY_FILE).unlink()
    with pytest.raises(SecretsCorrupted, match="Brakuje pliku klucza"):
        store.set("other", TOKEN)
    assert not (tmp_path / secret_store.KEY_FILE).exists()


def test_values_are_never_logged(tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    store = SecretStore(tmp_path, backend="file")
    store.set("name", TOKEN)
    store.get("name")
    store.delete("name")
    assert TOKEN not in caplog.text and "3f2a" not in caplog.text


def test_keyring_backend_keeps_folders_apart(tmp_path):
    ring = MemoryKeyring()
    first = SecretStore(tmp_path / "one", backend="keyring", keyring_backend=ring)
    second = SecretStore(tmp_path / "two", backend="keyring", keyring_backend=ring)
    assert first.backend_name == "keyring"
    first.set("ksef-token/TEST/5261040828", TOKEN)
    assert second.get("ksef-token/TEST/5261040828") is None
    assert SecretStore(tmp_path / "one", backend="keyring", keyring_backend=ring).get(
        "ksef-token/TEST/5261040828") == TOKEN
    assert {service for service, _ in ring.items} == {"ksef-local"}
    assert not (tmp_path / "one" / secret_store.SECRETS_FILE).exists()
    first.delete("ksef-token/TEST/5261040828")
    first.delete("ksef-token/TEST/5261040828")
    assert ring.items == {}


def test_backend_choice_is_remembered_by_the_data_folder(tmp_path, monkeypatch):
    monkeypatch.delenv(secret_store.ENV_BACKEND, raising=False)
    SecretStore(tmp_path, keyring_backend=MemoryKeyring())  # first run: a keyring is there
    meta = json.loads((tmp_path / secret_store.META_FILE).read_text(encoding="utf-8"))
    assert meta["backend"] == "keyring"
    if secret_store.usable_keyring() is not None:
        pytest.skip("a real OS keyring is usable here; the rest needs a machine without one")
    # A later run without a usable keyring must not silently switch to an empty file store.
    later = SecretStore(tmp_path)
    assert later.backend_name == "keyring"
    with pytest.raises(SecretStoreUnavailable, match="pęk kluczy"):
        later.get("name")
    assert not (tmp_path / secret_store.SECRETS_FILE).exists()


def test_file_choice_is_remembered_too(tmp_path, monkeypatch):
    monkeypatch.delenv(secret_store.ENV_BACKEND, raising=False)
    SecretStore(tmp_path, backend="file")
    assert SecretStore(tmp_path, keyring_backend=MemoryKeyring()).backend_name == "file"


@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()])
def test_probe_refuses_backends_that_store_nothing(backend):
    assert not secret_store._is_acceptable(backend)


def test_probe_refuses_an_empty_chainer():
    assert not secret_store._is_acceptable(chainer.ChainerBackend())


def test_probe_accepts_a_real_looking_backend():
    backend = type("Accepting", (), {"priority": 5})()
    assert secret_store._is_acceptable(backend)


def test_usable_keyring_returns_quickly():
    found = secret_store.usable_keyring()
    assert found is None or secret_store._is_acceptable(found)


@pytest.mark.parametrize("token, shown", [
    (TOKEN, "••••••••3f2a"), ("", ""), (None, ""), ("short", "••••••••"), ("123456789012", "••••••••9012")])
def test_mask_shows_at_most_the_last_four_characters(token, shown):
    assert mask(token) == shown


def test_repr_shows_no_secret(tmp_path):
    store = SecretStore(tmp_path, backend="file")
    store.set("name", TOKEN)
    assert TOKEN not in repr(store)


class BrokenKeyring(MemoryKeyring):
    def get_password(self, service: str, username: str) -> str | None:
        from keyring.errors import KeyringLocked

        raise KeyringLocked("Failed to unlock the collection!")


def test_keyring_failure_becomes_a_polish_error(tmp_path):
    store = SecretStore(tmp_path, backend="keyring", keyring_backend=BrokenKeyring())
    with pytest.raises(SecretStoreUnavailable, match="odblokuj pęk kluczy") as caught:
        store.get("name")
    assert caught.value.status == 503
