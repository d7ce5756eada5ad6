"""Guards of a backup that need no node: a key file that does not hold the key its row names (rotated
while the backup ran) fails the backup instead of being restored under the wrong row; two backups never
write into one directory at once."""

from __future__ import annotations

import fcntl
import os
import stat

import pytest

from federation.signing import SigningKey, generate_private_key, save_private_key
from operations.backup import backup_create
from operations.backup.keys import keys_backup
from operations.errors import BackupBusyError, BackupSourceError


def test_a_key_file_holding_another_key_than_its_row_fails_the_backup(settings, tmp_path):
    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    old, new = generate_private_key(), generate_private_key()
    save_private_key(new, settings.FEDERATION_KEY_PATH)  # rotated after the snapshot read the rows
    rows = [{"kid": SigningKey.from_private_key(old).kid, "status": "active", "fingerprint": "",
             "path": str(settings.FEDERATION_KEY_PATH)}]
    with pytest.raises(BackupSourceError, match="rotated while the backup ran"):
        keys_backup(rows=rows, directory=tmp_path / "backup")


def test_key_files_are_copied_private_with_their_key_ids(settings, tmp_path):
    settings.FEDERATION_KEY_PATH = tmp_path / "node_key.pem"
    active, rotated = generate_private_key(), generate_private_key()
    save_private_key(active, settings.FEDERATION_KEY_PATH)
    aside = tmp_path / f"node_key.{SigningKey.from_private_key(rotated).kid}.pem"
    save_private_key(rotated, aside)
    rows = [{"kid": SigningKey.from_private_key(k).kid, "status": s, "fingerprint": "", "path": str(p)}
            for k, s, p in ((rotated, "retiring", aside), (active, "active", settings.FEDERATION_KEY_PATH))]
    copy = keys_backup(rows=rows, directory=tmp_path / "backup")
    assert [(k["kid"], k["at_key_path"]) for k in copy.keys] == [(rows[0]["kid"], False), (rows[1]["kid"], True)]
    for entry in copy.entries:
        path = tmp_path / "backup" / entry.path
        assert path.read_bytes() in (aside.read_bytes(), settings.FEDERATION_KEY_PATH.read_bytes())
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert copy.warnings == []


def test_a_second_backup_into_a_directory_being_written_is_refused(tmp_path):
    directory = tmp_path / "backup"
    directory.mkdir()
    (directory / "BACKUP-IN-PROGRESS").write_text("backup started")
    held = os.open(directory, os.O_RDONLY)  # as the first backup's process holds it
    try:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(BackupBusyError, match="another backup is being written"):
            backup_create(directory=directory)
    finally:
        os.close(held)
    assert sorted(p.name for p in directory.iterdir()) == ["BACKUP-IN-PROGRESS"]
