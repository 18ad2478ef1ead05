"""Named secrets (the KSeF token per environment and NIP): the OS keyring first, else an encrypted file.

A KSeF token is a confidential secret to be kept in a trusted store (ksef-docs tokeny-ksef.md), hence:
keyring first with an encrypted-file fallback, a stable key that survives updates, never plaintext. The file
backend keeps ``secrets.enc`` (AES-256-GCM over a JSON object) and its key ``secrets.key`` (32 random bytes,
created once and kept) in the data folder, both mode 0600.
``secret-store.json`` (no secrets in it) remembers the backend chosen on the first run and a random id of
the data folder, so the choice does not flip between runs and two data folders never share keyring entries.

House rule 14: values are never logged and never appear in an exception message.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import uuid
from contextlib import closing
from pathlib import Path
from typing import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ksef_local import disk
from ksef_local.errors import UserError

log = logging.getLogger(__name__)

ENV_BACKEND = "KSEF_LOCAL_SECRET_BACKEND"
BACKENDS = ("keyring", "file")
KEYRING_SERVICE = "ksef-local"
SECRETS_FILE = "secrets.enc"
KEY_FILE = "secrets.key"
META_FILE = "secret-store.json"
KEY_SIZE = 32
NONCE_SIZE = 12
MAGIC = b"KSLS1"  # format tag; also the AES-GCM associated data
PROBE_SECONDS = 3.0
# Backends that are no store at all, or may block on a password prompt (KWallet, libsecret, keyrings.alt).
_REFUSED_MODULES = ("keyring.backends.fail", "keyring.backends.null", "keyring.backends.chainer",
                    "keyring.backends.kwallet", "keyring.backends.libsecret", "keyrings.alt")

MASK = "•" * 8
# Every store of this process shares one lock: the file backend reads, changes and rewrites one file.
_FILE_LOCK = threading.Lock()


class SecretStoreError(UserError):
    """The secret store cannot be used; the message says what to do (never contains a secret)."""

    def __init__(self, message: str, status: int = 500) -> None:
        super().__init__(message, status)


class SecretsCorrupted(SecretStoreError):
    """secrets.enc cannot be decrypted: damaged, or secrets.key is missing or is another key."""


class SecretStoreUnavailable(SecretStoreError):
    """The OS keyring chosen for this data folder is not usable now (locked, no session, error)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, status=503)


CORRUPTED_MESSAGE = (
    "Nie można odczytać zaszyfrowanych danych logowania (plik {secrets} w folderze danych): plik jest "
    "uszkodzony albo nie pasuje do klucza {key}. Przywróć oba pliki z tej samej kopii zapasowej albo usuń "
    "je i wpisz token KSeF ponownie w Ustawieniach KSeF."
).format(secrets=SECRETS_FILE, key=KEY_FILE)
KEY_MISSING_MESSAGE = (
    f"Brakuje pliku klucza {KEY_FILE} w folderze danych, a zaszyfrowane dane logowania ({SECRETS_FILE}) "
    "istnieją. Przywróć plik klucza z kopii zapasowej albo usuń oba pliki i wpisz token KSeF ponownie."
)
KEYRING_UNAVAILABLE_MESSAGE = (
    "Systemowy magazyn haseł (pęk kluczy) jest niedostępny albo zablokowany, a ten folder danych trzyma w nim "
    "token KSeF. Zaloguj się do systemu w zwykły sposób (odblokuj pęk kluczy) i spróbuj ponownie."
)


def mask(token: str | None) -> str:
    """Return a token for display: dots and at most its last 4 characters ("••••••••3f2a")."""
    if not token:
        return ""
    return MASK + (token[-4:] if len(token) >= 12 else "")


class SecretStore:
    """Named string secrets of one data folder, in the OS keyring or in an encrypted file."""

    def __init__(self, home: Path, backend: str | None = None, *, keyring_backend=None,
                 random_bytes: Callable[[int], bytes] = os.urandom) -> None:
        """Open the store of a data folder; backend "keyring"/"file" (or $KSEF_LOCAL_SECRET_BACKEND) forces one.

        keyring_backend replaces the probed OS keyring (a keyring.backend.KeyringBackend, e.g. a fake).
        """
        self.home = Path(home)
        self._random_bytes = random_bytes
        meta = self._read_meta()
        forced = backend or os.environ.get(ENV_BACKEND, "").strip().lower() or None
        if forced is not None and forced not in BACKENDS:
            raise ValueError(f"unknown secret backend {forced!r}; use one of {BACKENDS}")
        remembered = meta.get("backend") if meta.get("backend") in BACKENDS else None
        self._keyring = None
        if (forced or remembered) != "file":
            self._keyring = keyring_backend or usable_keyring()
        chosen = forced or remembered or ("keyring" if self._keyring is not None else "file")
        if chosen == "keyring" and self._keyring is None and forced == "keyring":
            raise SecretStoreUnavailable(KEYRING_UNAVAILABLE_MESSAGE)
        if remembered is None or not meta.get("id"):
            meta = {"backend": remembered or chosen, "id": meta.get("id") or uuid.uuid4().hex}
            disk.make_dir(self.home)
            _write_private(self.home / META_FILE, json.dumps(meta).encode("utf-8"))
        self.folder_id: str = meta["id"]
        self.backend_name: str = chosen
        log.info("secret store: %s backend", chosen)

    # -- public API ---------------------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        """Return the secret stored under name, or None."""
        if self.backend_name == "keyring":
            return self._keyring_call("get_password", name)
        with _FILE_LOCK:
            return self._read_all().get(name)

    def set(self, name: str, value: str) -> None:
        """Store value under name (replacing any previous one)."""
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        if self.backend_name == "keyring":
            self._keyring_call("set_password", name, value)
            return
        with _FILE_LOCK:
            secrets = self._read_all()
            secrets[name] = value
            self._write_all(secrets)

    def delete(self, name: str) -> None:
        """Remove the secret stored under name; nothing happens when there is none."""
        if self.backend_name == "keyring":
            if self._keyring_call("get_password", name) is not None:
                self._keyring_call("delete_password", name)
            return
        with _FILE_LOCK:
            secrets = self._read_all()
            if secrets.pop(name, None) is not None:
                self._write_all(secrets)

    def __repr__(self) -> str:
        return f"SecretStore({str(self.home)!r}, backend={self.backend_name!r})"

    # -- keyring backend ----------------------------------------------------------------------------

    def _keyring_call(self, method: str, name: str, *value: str):
        if self._keyring is None or not _is_unlocked(self._keyring):
            raise SecretStoreUnavailable(KEYRING_UNAVAILABLE_MESSAGE)
        try:
            return getattr(self._keyring, method)(KEYRING_SERVICE, f"{self.folder_id}:{name}", *value)
        except Exception as exc:  # keyring backends raise KeyringError, D-Bus and OS errors alike
            log.warning("keyring %s failed: %s", method, type(exc).__name__)
            raise SecretStoreUnavailable(KEYRING_UNAVAILABLE_MESSAGE) from None

    # -- file backend -------------------------------------------------------------------------------

    def _read_all(self) -> dict[str, str]:
        path = self.home / SECRETS_FILE
        if not path.exists():
            return {}
        key_path = self.home / KEY_FILE
        if not key_path.exists():
            raise SecretsCorrupted(KEY_MISSING_MESSAGE)
        key = key_path.read_bytes()
        blob = path.read_bytes()
        if len(key) != KEY_SIZE or not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + NONCE_SIZE + 16:
            raise SecretsCorrupted(CORRUPTED_MESSAGE)
        nonce = blob[len(MAGIC):len(MAGIC) + NONCE_SIZE]
        try:
            plain = AESGCM(key).decrypt(nonce, blob[len(MAGIC) + NONCE_SIZE:], MAGIC)
            secrets = json.loads(plain.decode("utf-8"))
        except (InvalidTag, ValueError):  # JSON and UTF-8 errors are ValueErrors
            raise SecretsCorrupted(CORRUPTED_MESSAGE) from None
        if not isinstance(secrets, dict) or not all(isinstance(v, str) for v in secrets.values()):
            raise SecretsCorrupted(CORRUPTED_MESSAGE)
        return secrets

    def _write_all(self, secrets: dict[str, str]) -> None:
        key = self._key()
        nonce = self._random_bytes(NONCE_SIZE)
        plain = json.dumps(secrets, ensure_ascii=False, sort_keys=True).encode("utf-8")
        _write_private(self.home / SECRETS_FILE, MAGIC + nonce + AESGCM(key).encrypt(nonce, plain, MAGIC))

    def _key(self) -> bytes:
        """Return the file key, creating it once; an existing key is never replaced (tokens survive updates)."""
        path = self.home / KEY_FILE
        if not path.exists():
            if (self.home / SECRETS_FILE).exists():
                raise SecretsCorrupted(KEY_MISSING_MESSAGE)
            _write_private(path, self._random_bytes(KEY_SIZE), replace=False)
        key = path.read_bytes()
        if len(key) != KEY_SIZE:
            raise SecretsCorrupted(CORRUPTED_MESSAGE)
        return key

    def _read_meta(self) -> dict:
        try:
            meta = json.loads((self.home / META_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return meta if isinstance(meta, dict) else {}


def _write_private(path: Path, data: bytes, replace: bool = True) -> None:
    """Write a file readable by its owner only (0600), atomically: a temp file, then a rename.

    With replace=False an existing file wins (a hard link cannot overwrite), so a key made by another
    process at the same moment is never clobbered.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if os.name != "nt":
            os.chmod(tmp, 0o600)
        if replace:
            os.replace(tmp, path)
            return
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            if not path.exists():
                os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


# -- keyring probing --------------------------------------------------------------------------------

def usable_keyring():
    """Return the OS keyring backend to use, or None; bounded in time, never shows a prompt."""
    found: list = []
    probe = threading.Thread(target=lambda: found.append(_probe_keyring()), name="ksef-local-keyring-probe",
                             daemon=True)
    probe.start()
    probe.join(PROBE_SECONDS)  # a wedged D-Bus must not hang the app's start
    if probe.is_alive() or not found:
        log.warning("keyring probe did not finish; using the encrypted file")
        return None
    return found[0]


def _probe_keyring():
    try:
        import keyring
        from keyring.backends.chainer import ChainerBackend

        chosen = keyring.get_keyring()
        candidates = chosen.backends if isinstance(chosen, ChainerBackend) else [chosen]
        for backend in candidates:
            if _is_acceptable(backend) and _is_unlocked(backend):
                return backend
    except Exception as exc:  # keyring backends raise many unrelated classes while probing
        log.warning("keyring probe failed: %s", type(exc).__name__)
    return None


def _is_acceptable(backend) -> bool:
    module = type(backend).__module__
    if any(module == refused or module.startswith(refused + ".") for refused in _REFUSED_MODULES):
        return False
    try:
        return backend.priority >= 1  # keyring's own "recommended" threshold
    except Exception:  # a backend's priority raises when it is not viable
        return False


def _is_unlocked(backend) -> bool:
    """Return False for a Secret Service whose default collection is locked: using it would prompt."""
    if type(backend).__module__ != "keyring.backends.SecretService":
        return True
    try:
        import secretstorage

        with closing(secretstorage.dbus_init()) as connection:
            return not secretstorage.get_default_collection(connection).is_locked()
    except Exception as exc:  # D-Bus and secretstorage raise many unrelated classes
        log.warning("secret service check failed: %s", type(exc).__name__)
        return False
