# SPDX-License-Identifier: BSD-3-Clause
"""Image arguments and the data split file."""

from dualmod.imaging.inputs import read_split


def test_read_split(tmp_path):
    (tmp_path / "SPLIT.csv").write_text("file,split\na.exr,train\nb.exr,test\n")
    assert read_split(tmp_path) == {"a.exr": "train", "b.exr": "test"}
    assert read_split(tmp_path / "nowhere") == {}
