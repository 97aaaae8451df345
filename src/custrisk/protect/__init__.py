"""Data protection: encryption at rest, keys, and (with the audit log) who did what.

* :mod:`~custrisk.protect.keys` -- key files and key variables, key ids, rotation, retiring;
* :mod:`~custrisk.protect.envelope` -- the streaming authenticated file format;
* :mod:`~custrisk.protect.files` -- encrypting, decrypting and rotating whole files;
* :mod:`~custrisk.protect.lifecycle` -- retiring a key once no file or audit log needs it;
* :mod:`~custrisk.protect.output` -- ``--encrypt``: sealed outputs, encrypted inputs read
  transparently;
* :mod:`~custrisk.protect.pseudonym` -- ``--pseudonymise``: keyed tokens for customer ids;
* :mod:`~custrisk.protect.roles` -- who may see personal data in clear.
"""

from custrisk.protect.envelope import (
    SUFFIX,
    DecryptingReader,
    EncryptingWriter,
    is_encrypted,
    key_id_of,
    open_decrypted,
)
from custrisk.protect.files import (
    decrypt_file,
    decrypt_files,
    encrypt_file,
    encrypt_files,
    encrypted_files,
    rotate_files,
)
from custrisk.protect.keys import (
    ENCRYPTION,
    PSEUDONYM,
    Key,
    Keyring,
    add_key,
    default_keyfile,
    load_keyring,
    new_key,
    read_keyfile,
    retire_key,
)
from custrisk.protect.lifecycle import Retirement, retire
from custrisk.protect.output import Encryption, protected_outputs
from custrisk.protect.pseudonym import Pseudonymiser, pseudonym, pseudonymiser, pseudonymising
from custrisk.protect.roles import add_refusal_listener, current_caller, require

__all__ = [
    "ENCRYPTION",
    "PSEUDONYM",
    "SUFFIX",
    "DecryptingReader",
    "EncryptingWriter",
    "Encryption",
    "Key",
    "Keyring",
    "Pseudonymiser",
    "Retirement",
    "add_key",
    "add_refusal_listener",
    "current_caller",
    "decrypt_file",
    "decrypt_files",
    "default_keyfile",
    "encrypt_file",
    "encrypt_files",
    "encrypted_files",
    "is_encrypted",
    "key_id_of",
    "load_keyring",
    "new_key",
    "open_decrypted",
    "protected_outputs",
    "pseudonym",
    "pseudonymiser",
    "pseudonymising",
    "read_keyfile",
    "require",
    "retire",
    "retire_key",
    "rotate_files",
]
