"""How MTL files are found in a data folder by their first two lines, and their split told from their name."""

from pathlib import Path

from abawbench import multitask
from abawbench.tracks import MTL_HEADER

HEADER = ",".join(MTL_HEADER)
ROW = "a/00001.jpg,0.1,0.2,3,0,1,0,0,0,0,1,0,0,0,0,0"


def found(root: Path) -> dict[str, tuple[str, str | None]]:
    return {f.path.name: (f.kind, f.split) for f in multitask.find_mtl_files(root)}


def test_a_name_holding_valid_anywhere_is_the_validation_split(tmp_path):
    assert multitask._split_from_name("mtl_validation.txt") == "validation"
    assert multitask._split_from_name("My_Valid_Rows.txt") == "validation"
    (tmp_path / "mtl_validation.txt").write_text(f"{HEADER}\n{ROW}\n")
    assert found(tmp_path) == {"mtl_validation.txt": ("annotations", "validation")}


def test_hidden_and_non_txt_files_are_skipped_and_the_files_after_them_still_read(tmp_path):
    """Entries are read in name order: '.hidden.txt' and 'a_rows.csv' come before 'validation_set.txt'."""
    for name in (".hidden.txt", "a_rows.csv", "validation_set.txt"):
        (tmp_path / name).write_text(f"{HEADER}\n{ROW}\n")
    assert found(tmp_path) == {"validation_set.txt": ("annotations", "validation")}


def test_a_folder_named_txt_is_skipped(tmp_path):
    (tmp_path / "a.txt").mkdir()
    (tmp_path / "train_set.txt").write_text(f"{HEADER}\n{ROW}\n")
    assert found(tmp_path) == {"train_set.txt": ("annotations", "train")}


def test_a_file_that_cannot_be_opened_is_skipped_and_the_files_after_it_still_read(tmp_path, monkeypatch):
    """An unreadable file (simulated: the tests may run as root, who reads any file) is passed over."""
    (tmp_path / "a_locked.txt").write_text(f"{HEADER}\n{ROW}\n")
    (tmp_path / "validation_set.txt").write_text(f"{HEADER}\n{ROW}\n")

    def guarded_open(path, *args, **kwargs):
        if Path(path).name == "a_locked.txt":
            raise PermissionError(13, "Permission denied", str(path))
        return open(path, *args, **kwargs)

    monkeypatch.setattr(multitask, "open", guarded_open, raising=False)
    assert found(tmp_path) == {"validation_set.txt": ("annotations", "validation")}


def test_a_first_line_not_in_utf8_is_no_header_and_the_files_after_it_still_read(tmp_path):
    """A UTF-16 file (bytes 0xff 0xfe first) is not an MTL file; reading it does not fail."""
    (tmp_path / "a_utf16.txt").write_bytes(f"{HEADER}\n{ROW}\n".encode("utf-16"))
    (tmp_path / "validation_set.txt").write_text(f"{HEADER}\n{ROW}\n")
    assert found(tmp_path) == {"validation_set.txt": ("annotations", "validation")}


def test_a_second_line_not_in_utf8_still_tells_the_files_kind(tmp_path):
    """A Latin-1 'é' (byte 0xe9) in the first row's image: the row still has 16 fields."""
    (tmp_path / "train_set.txt").write_bytes(f"{HEADER}\nvidéo/{ROW[2:]}\n".encode("latin-1"))
    assert found(tmp_path) == {"train_set.txt": ("annotations", "train")}


def test_an_image_followed_by_a_value_is_not_a_test_list(tmp_path):
    (tmp_path / "test_set.txt").write_text(f"{HEADER}\na/00001.jpg,0.5\n")
    (tmp_path / "mtl_test.txt").write_text(f"{HEADER}\na/00001.jpg,\n")
    assert found(tmp_path) == {"mtl_test.txt": ("test list", "test")}


def test_only_the_first_4096_bytes_of_the_header_line_are_read(tmp_path):
    """A header padded with spaces to 4095 bytes before its newline is one; padded to 4096, the newline
    is left for the second read, which then sees an empty line: not an MTL file."""
    (tmp_path / "a_test.txt").write_text(HEADER.ljust(4095) + "\na/00001.jpg\n")
    (tmp_path / "b_test.txt").write_text(HEADER.ljust(4096) + "\na/00001.jpg\n")
    assert found(tmp_path) == {"a_test.txt": ("test list", "test")}
