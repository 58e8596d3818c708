"""Every input format of a vocabulary, and a clear error for every bad input."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from scaledet_labels import (
    UnknownVocabularyError,
    Vocabulary,
    VocabularyError,
    VocabularyTypeError,
    available_vocabularies,
    load_vocabulary,
)
from scaledet_labels.vocab.sources import parse_inline, read_vocabulary_file, vocabulary_from_object

MakeFile = Callable[..., Path]


def test_error_types_are_value_and_type_errors() -> None:
    assert issubclass(VocabularyError, ValueError)
    assert issubclass(UnknownVocabularyError, VocabularyError)
    assert issubclass(VocabularyTypeError, TypeError)


# -- .txt ---------------------------------------------------------------------------------
def test_txt_comments_trailing_blank_lines_and_stem_name(tmp_vocab_file: MakeFile) -> None:
    text = "# header\ncat\n  # indented comment\nHot_dog \n\n   \n# footer\n\n"
    path = tmp_vocab_file("my_classes.txt", text)
    vocab = load_vocabulary(path)
    assert vocab.name == "my_classes"
    assert vocab.source == str(path)
    assert vocab.names == ("cat", "Hot_dog ")  # the raw name is the line as it is spelled
    assert vocab.clean_names == ("cat", "hot dog")
    assert vocab.ids == (1, 2)
    assert load_vocabulary(str(path), name="pets").name == "pets"


def test_txt_crlf_and_bom(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("c.txt", b"\xef\xbb\xbfcat\r\ndog\r\n# x\r\nbird\r\n\r\n")
    vocab = load_vocabulary(path)
    assert vocab.names == ("cat", "dog", "bird")
    assert not vocab.names[0].startswith("\ufeff")


def test_txt_keeps_unicode(tmp_vocab_file: MakeFile) -> None:
    vocab = load_vocabulary(tmp_vocab_file("u.txt", "caf\u00e9\n\u732b\n"))
    assert vocab.names == ("caf\u00e9", "\u732b")


# -- .json --------------------------------------------------------------------------------
def test_json_list_of_names(tmp_vocab_file: MakeFile) -> None:
    vocab = load_vocabulary(tmp_vocab_file("n.json", json.dumps(["cat", "Dog"])))
    assert vocab.names == ("cat", "Dog")
    assert vocab.ids == (1, 2)


def test_json_list_of_objects_keeps_order_synonyms_and_metadata(tmp_vocab_file: MakeFile) -> None:
    records = [
        {"id": 7, "name": "cat", "synonyms": ["kitty", "cat"], "color": "black"},
        {"id": 3, "name": "dog", "definition": "a dog", "extra": {"a": 1}},
    ]
    vocab = load_vocabulary(tmp_vocab_file("o.json", json.dumps(records)))
    assert vocab.names == ("cat", "dog")  # a plain list keeps its order
    assert vocab.ids == (7, 3)
    assert vocab[0].synonyms == ("kitty",)
    assert dict(vocab[0].metadata) == {"color": "black"}
    assert vocab[1].definition == "a dog"
    assert dict(vocab[1].metadata) == {"extra": {"a": 1}}
    assert vocab.by_id(3).name == "dog"


def test_coco_annotation_file_is_sorted_by_id(tmp_vocab_file: MakeFile) -> None:
    coco = {
        "info": {},
        "images": [],
        "annotations": [],
        "categories": [
            {"id": 18, "name": "dog", "supercategory": "animal"},
            {"id": 1, "name": "person", "supercategory": "person"},
            {"id": 3, "name": "car", "supercategory": "vehicle"},
        ],
    }
    vocab = load_vocabulary(tmp_vocab_file("instances_val.json", json.dumps(coco)))
    assert vocab.ids == (1, 3, 18)
    assert vocab.names == ("person", "car", "dog")
    assert [label.index for label in vocab] == [0, 1, 2]
    assert vocab.by_id(18).metadata["supercategory"] == "animal"


def test_lvis_format_categories(tmp_vocab_file: MakeFile) -> None:
    lvis = {
        "categories": [
            {
                "id": 2,
                "name": "bow_(weapon)",
                "synonyms": ["bow_(weapon)", "longbow"],
                "def": "a weapon for shooting arrows",
                "synset": "bow.n.04",
                "frequency": "r",
            },
            {
                "id": 1,
                "name": "aerosol_can",
                "synonyms": ["aerosol_can", "spray_can"],
                "def": "a dispenser",
                "synset": "aerosol.n.02",
                "frequency": "c",
            },
        ]
    }
    vocab = load_vocabulary(tmp_vocab_file("lvis_val.json", json.dumps(lvis)))
    assert vocab.names == ("aerosol_can", "bow_(weapon)")
    assert vocab[0].synonyms == ("spray can",)
    assert vocab[0].definition == "a dispenser"
    assert dict(vocab[0].metadata) == {"synset": "aerosol.n.02", "frequency": "c"}
    assert vocab[1].clean_name == "bow (weapon)"
    assert vocab[1].synonyms == ("longbow",)


def test_json_id_to_name_object(tmp_vocab_file: MakeFile) -> None:
    vocab = load_vocabulary(tmp_vocab_file("m.json", json.dumps({"3": "car", "1": "person"})))
    assert vocab.ids == (1, 3)
    assert vocab.names == ("person", "car")


def test_json_with_bom(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("b.json", b"\xef\xbb\xbf" + json.dumps(["cat"]).encode())
    assert load_vocabulary(path).names == ("cat",)


# -- .csv / .tsv --------------------------------------------------------------------------
def test_csv_columns_case_insensitive_synonyms_and_metadata(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file(
        "t.csv", "Name,ID,Synonyms,Color\ncat,5,kitty|puss,black\nHot_dog,7,,brown\n"
    )
    vocab = load_vocabulary(path)
    assert vocab.names == ("cat", "Hot_dog")
    assert vocab.ids == (5, 7)
    assert vocab[0].synonyms == ("kitty", "puss")
    assert vocab[1].synonyms == ()
    assert dict(vocab[0].metadata) == {"color": "black"}
    assert dict(vocab[1].metadata) == {"color": "brown"}


def test_csv_name_column_only_crlf_bom(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("n.csv", b"\xef\xbb\xbfname\r\ncat\r\ndog\r\n")
    vocab = load_vocabulary(path)
    assert vocab.names == ("cat", "dog")
    assert vocab.ids == (1, 2)


def test_tsv(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("t.tsv", "id\tname\tsynonyms\n4\tcell phone\tmobile phone|smartphone\n")
    vocab = load_vocabulary(path)
    assert vocab.names == ("cell phone",)
    assert vocab.ids == (4,)
    assert vocab[0].synonyms == ("mobile phone", "smartphone")


# -- inline strings and Python objects ----------------------------------------------------
def test_inline_strings() -> None:
    vocab = load_vocabulary("cat, dog")
    assert vocab.names == ("cat", "dog")
    assert vocab.name == "custom"
    one = load_vocabulary("cat,")
    assert one.names == ("cat",)
    assert load_vocabulary(" Hot_dog ,TV", name="x").clean_names == ("hot dog", "TV")
    assert parse_inline("a,b").names == ("a", "b")


def test_python_list_and_tuple() -> None:
    assert load_vocabulary(["cat", "dog"]).names == ("cat", "dog")
    assert load_vocabulary(("cat", "dog"), name="pets").name == "pets"


def test_python_list_of_dicts() -> None:
    vocab = load_vocabulary(
        [
            {"id": 10, "name": "cat", "synonyms": "kitty|puss", "synset": "cat.n.01"},
            {"id": 2, "name": "dog"},
        ]
    )
    assert vocab.ids == (10, 2)
    assert vocab[0].synonyms == ("kitty", "puss")
    assert vocab[0].metadata["synset"] == "cat.n.01"


def test_python_id_to_name_dict() -> None:
    vocab = vocabulary_from_object({3: "car", 1: "person"})
    assert vocab.ids == (1, 3)
    assert vocab.names == ("person", "car")


def test_dataframe() -> None:
    frame = pd.DataFrame(
        {"ID": [3, 1], "Name": ["cat", "dog"], "synonyms": ["kitty", None], "color": ["r", "g"]}
    )
    vocab = load_vocabulary(frame, name="pets")
    assert vocab.name == "pets"
    assert vocab.ids == (3, 1)
    assert vocab.names == ("cat", "dog")
    assert vocab[0].synonyms == ("kitty",)
    assert vocab[1].synonyms == ()
    assert [dict(label.metadata) for label in vocab] == [{"color": "r"}, {"color": "g"}]


def test_vocabulary_passes_through() -> None:
    vocab = Vocabulary.from_names(["a"], name="a")
    assert load_vocabulary(vocab) is vocab
    assert load_vocabulary(vocab, name="b").name == "b"


# -- detection and format= ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("content", "names", "ids"),
    [
        ("cat\ndog\n", ("cat", "dog"), (1, 2)),
        ('["cat", "dog"]', ("cat", "dog"), (1, 2)),
        ('  {"5": "cat"}', ("cat",), (5,)),
        ("id,name\n4,cat\n", ("cat",), (4,)),
        ("name\tid\ncat\t9\n", ("cat",), (9,)),
    ],
)
def test_extensionless_file_detected_from_content(
    tmp_vocab_file: MakeFile, content: str, names: tuple[str, ...], ids: tuple[int, ...]
) -> None:
    vocab = load_vocabulary(tmp_vocab_file("classes", content))
    assert vocab.names == names
    assert vocab.ids == ids
    assert vocab.name == "classes"


def test_format_override(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("weird.dat", '["cat", "dog"]')
    assert load_vocabulary(path, format="json").names == ("cat", "dog")
    assert load_vocabulary(path, format="txt").names == ('["cat", "dog"]',)
    csv_as_txt = tmp_vocab_file("list.txt", "name,id\ncat,1\n")
    assert read_vocabulary_file(csv_as_txt, format="csv").names == ("cat",)
    with pytest.raises(VocabularyError, match="format='yaml' is not one of"):
        load_vocabulary(path, format="yaml")  # type: ignore[arg-type]


# -- errors -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("filename", "content", "pattern"),
    [
        ("empty.txt", "", r"empty\.txt: the file is empty; the vocabulary has no labels"),
        ("comments.txt", "# a\n   # b\n\n", r"comments\.txt: the vocabulary is empty"),
        ("empty_list.json", "[]", r"empty_list\.json: the vocabulary is empty"),
        ("header.csv", "name\n", r"header\.csv: the vocabulary is empty"),
        ("blank.json", '["cat", "  "]', r"blank\.json: item 1: empty or whitespace-only"),
        ("blank.csv", "name,id\ncat,1\n  ,2\n", r"blank\.csv:3: empty or whitespace-only"),
        ("dup.txt", "Dog\ndog \n", r"dup\.txt:2: duplicate label name 'dog'"),
        (
            "dup2.json",
            '["hot_dog", "hot dog"]',
            r"dup2\.json: item 1: duplicate label name 'hot dog'",
        ),
        ("num.json", "3", r"num\.json: expected a JSON list or object, got int"),
        ("mixed.json", '["cat", 3]', r"mixed\.json: item 1 is int 3"),
        ("mixed2.json", '["cat", {"name": "dog"}]', r"mixed2\.json: item 1 is dict"),
        ("mixed3.json", '[{"name": "dog"}, "cat"]', r"mixed3\.json: item 1 is str 'cat'"),
        ("noname.json", '[{"id": 1, "title": "cat"}]', r"noname\.json: category 0: missing 'name'"),
        (
            "coco.json",
            '{"images": [], "annotations": []}',
            r"coco\.json: a COCO-format file without 'categories'",
        ),
        ("cats.json", '{"categories": {"1": "a"}}', r"cats\.json: 'categories' must be a list"),
        ("obj.json", '{"a": [1]}', r"obj\.json: unsupported JSON object"),
        ("badmap.json", '{"x": "cat"}', r"badmap\.json: key 'x': category id must be an integer"),
        ("broken.json", '[\n"cat",\n"dog"', r"broken\.json:3: invalid JSON"),
        (
            "dupid.json",
            '[{"id": 1, "name": "cat"}, {"id": 1, "name": "dog"}]',
            r"dupid\.json: category 1: category id 1 is used by both 'cat' \(category 0\) "
            r"and 'dog' \(category 1\)",
        ),
        ("dupid.csv", "id,name\n2,cat\n2,dog\n", r"dupid\.csv:3: category id 2 is used by both"),
        (
            "someid.json",
            '[{"id": 1, "name": "cat"}, {"name": "dog"}]',
            r"someid\.json: category 1: no 'id' while others have one",
        ),
        ("badid.csv", "id,name\nx,cat\n", r"badid\.csv:2: category id must be an integer"),
        ("noname.csv", "label,id\ncat,1\n", r"noname\.csv: no 'name' column"),
        ("empty.csv", "", r"empty\.csv: the file is empty"),
        ("empty.json", " \n", r"empty\.json: the file is empty"),
    ],
)
def test_bad_files_name_the_file(
    tmp_vocab_file: MakeFile, filename: str, content: str, pattern: str
) -> None:
    path = tmp_vocab_file(filename, content)
    with pytest.raises(VocabularyError, match=pattern):
        load_vocabulary(path)
    with pytest.raises(VocabularyError, match=pattern):
        load_vocabulary(str(path))


def test_duplicates_in_a_file_can_be_disambiguated(tmp_vocab_file: MakeFile) -> None:
    vocab = load_vocabulary(tmp_vocab_file("d.txt", "Dog\ndog\n"), on_duplicate="disambiguate")
    assert vocab.names == ("Dog", "dog")
    assert vocab.clean_names == ("dog", "dog (2)")
    # in JSON the raw names are kept verbatim, trailing space included
    vocab = load_vocabulary(
        tmp_vocab_file("d.json", '["Dog", "dog "]'), on_duplicate="disambiguate"
    )
    assert vocab.names == ("Dog", "dog ")
    assert vocab.clean_names == ("dog", "dog (2)")


def test_latin1_file_names_file_and_line(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("latin.txt", "cat\ndog\ncaf\u00e9\n", encoding="latin-1")
    with pytest.raises(VocabularyError, match=r"latin\.txt:3: not valid UTF-8") as info:
        load_vocabulary(path)
    assert "UTF-8" in str(info.value)


def test_binary_file(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("model.txt", b"cat\x00\x01\x02\xff")
    with pytest.raises(VocabularyError, match=r"model\.txt: looks like a binary file"):
        load_vocabulary(path)


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VocabularyError, match=r"missing\.txt: no such file"):
        load_vocabulary("missing.txt")
    with pytest.raises(VocabularyError, match="no such file"):
        load_vocabulary(tmp_path / "missing.json")
    with pytest.raises(VocabularyError, match="no such file"):
        read_vocabulary_file(tmp_path / "missing.csv")


def test_directory_is_not_a_vocabulary(tmp_path: Path) -> None:
    with pytest.raises(VocabularyError, match="is a directory"):
        load_vocabulary(tmp_path)


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("cocoo", "'coco'"),
        ("LVIS1", "'lvis'"),
        ("openimage", "'openimages'"),
        ("object365", "'objects365'"),
    ],
)
def test_unknown_builtin_suggests_close_names(name: str, suggestion: str) -> None:
    with pytest.raises(UnknownVocabularyError, match=f"unknown vocabulary '{name}'") as info:
        load_vocabulary(name)
    assert "Did you mean" in str(info.value)
    assert suggestion in str(info.value)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("cat, , dog", "item 1: empty or whitespace-only"),
        (",", "item 0: empty or whitespace-only"),
        ("cat,,", "item 1: empty or whitespace-only"),
    ],
)
def test_inline_empty_items(text: str, pattern: str) -> None:
    with pytest.raises(VocabularyError, match=pattern):
        load_vocabulary(text)


@pytest.mark.parametrize(
    ("obj", "pattern"),
    [
        ([], "the vocabulary is empty"),
        (["cat", "   "], r"item 1: empty or whitespace-only"),
        (["Dog", "dog "], "duplicate label name 'dog'"),
        (["hot_dog", "hot dog"], "duplicate label name 'hot dog'"),
        (["cat", 3], "item 1 is int 3"),
        ([{"id": 1}], "missing 'name'"),
        ([{"id": True, "name": "a"}], "category id must be an integer"),
        ({"x": "cat"}, "category id must be an integer"),
        ({}, "unsupported"),
    ],
)
def test_bad_python_objects(obj: Any, pattern: str) -> None:
    with pytest.raises(VocabularyError, match=pattern):
        load_vocabulary(obj)


def test_bad_dataframes() -> None:
    with pytest.raises(VocabularyError, match=r"<DataFrame>: row 1: 'name' must be text"):
        load_vocabulary(pd.DataFrame({"name": ["cat", None]}))
    with pytest.raises(VocabularyError, match="no 'name' column"):
        load_vocabulary(pd.DataFrame({"label": ["cat"]}))
    with pytest.raises(VocabularyError, match="empty or whitespace-only"):
        load_vocabulary(pd.DataFrame({"name": ["cat", " "]}))


@pytest.mark.parametrize("obj", [3, None, 2.5, {"a", "b"}, object()])
def test_wrong_python_types(obj: Any) -> None:
    pattern = f"cannot build a vocabulary from {type(obj).__name__}"
    with pytest.raises(VocabularyTypeError, match=pattern):
        load_vocabulary(obj)


def test_failed_loads_leave_the_registry_unchanged(tmp_vocab_file: MakeFile) -> None:
    before = available_vocabularies(include_aliases=True)
    for bad in [tmp_vocab_file("bad.txt", "a\nA\n"), "cocoo", ["x", "X"], "missing.txt"]:
        with pytest.raises(VocabularyError):
            load_vocabulary(bad)
    assert available_vocabularies(include_aliases=True) == before


# -- blank names: refused with their place, or left out with every other id kept ----------
@pytest.mark.parametrize(
    ("filename", "content", "place"),
    [
        ("lead.txt", "  \nblack bishop\n", r"lead\.txt:1: "),  # issue 12: was id 1, silently
        ("mid.txt", "cat\n\ndog\n", r"mid\.txt:2: "),
        ("tab.txt", "cat\n\t \ndog\n", r"tab\.txt:2: "),
        ("under.txt", "cat\n___\ndog\n", r"under\.txt:2: "),  # nothing left after cleaning
        ("names.json", '["cat", "", "dog"]', r"names\.json: item 1: "),
        ("records.json", '[{"id": 0, "name": ""}, {"id": 1, "name": "cat"}]', r"category 0: "),
        ("map.json", '{"1": "cat", "2": " "}', r"map\.json: id 2: "),
        ("mid.csv", "name\ncat\n\ndog\n", r"mid\.csv:3: "),
        ("ids.csv", "id,name\n1,cat\n2,\n3,dog\n", r"ids\.csv:3: "),
        ("mid.tsv", "name\tid\ncat\t1\n \t2\n", r"mid\.tsv:3: "),
    ],
)
def test_blank_names_are_refused_the_same_way_in_every_format(
    tmp_vocab_file: MakeFile, filename: str, content: str, place: str
) -> None:
    path = tmp_vocab_file(filename, content)
    with pytest.raises(
        VocabularyError, match=place + "empty or whitespace-only label name"
    ) as info:
        load_vocabulary(path)
    message = str(info.value)
    assert "on_blank='skip'" in message and "--on-blank skip" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("filename", "content", "names", "ids"),
    [
        ("lead.txt", "  \nblack bishop\n", ("black bishop",), (2,)),
        ("mid.txt", "# c\ncat\n\ndog\n", ("cat", "dog"), (1, 3)),
        ("names.json", '["cat", "", "dog"]', ("cat", "dog"), (1, 3)),
        (
            "coco.json",
            '{"categories": [{"id": 0, "name": ""}, {"id": 1, "name": "cat"}]}',
            ("cat",),
            (1,),
        ),
        ("map.json", '{"5": "cat", "6": "  ", "7": "dog"}', ("cat", "dog"), (5, 7)),
        ("mid.csv", "name\ncat\n\ndog\n", ("cat", "dog"), (1, 3)),
        ("ids.csv", "id,name\n10,cat\n,\n30,dog\n", ("cat", "dog"), (10, 30)),
    ],
)
def test_on_blank_skip_leaves_the_label_out_and_keeps_every_other_id(
    tmp_vocab_file: MakeFile,
    filename: str,
    content: str,
    names: tuple[str, ...],
    ids: tuple[int, ...],
) -> None:
    vocab = load_vocabulary(tmp_vocab_file(filename, content), on_blank="skip")
    assert vocab.names == names
    assert vocab.ids == ids
    assert [label.index for label in vocab] == list(range(len(names)))


def test_on_blank_skip_for_inline_lists_and_python_objects() -> None:
    assert load_vocabulary("cat, , dog", on_blank="skip").ids == (1, 3)
    assert load_vocabulary(["", "cat"], on_blank="skip").ids == (2,)
    assert load_vocabulary({0: "", 1: "cat"}, on_blank="skip").ids == (1,)
    frame = pd.DataFrame({"name": ["cat", " ", "dog"]})
    assert load_vocabulary(frame, on_blank="skip").ids == (1, 3)
    with pytest.raises(VocabularyError, match=r"<list>: item 0: empty or whitespace-only"):
        load_vocabulary(["", "cat"])
    with pytest.raises(VocabularyError, match="the vocabulary is empty"):
        load_vocabulary(["", " "], on_blank="skip")


def test_blank_lines_after_the_last_name_are_formatting(tmp_vocab_file: MakeFile) -> None:
    assert load_vocabulary(tmp_vocab_file("t.txt", "cat\ndog\n\n  \n\n")).ids == (1, 2)
    assert load_vocabulary(tmp_vocab_file("t.csv", "id,name\n1,cat\n2,dog\n\n\n")).ids == (1, 2)


def test_bad_policies_list_the_accepted_ones(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("t.txt", "cat\n")
    with pytest.raises(VocabularyError, match=r"on_blank='drop' is not one of \['error', 'skip'\]"):
        load_vocabulary(path, on_blank="drop")  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match=r"on_duplicate='merge' is not one of"):
        load_vocabulary(["cat"], on_duplicate="merge")  # type: ignore[arg-type]
    with pytest.raises(VocabularyError, match=r"on_blank='x'"):
        parse_inline("a, b", on_blank="x")  # type: ignore[arg-type]


def _error(source: Any, **kwargs: Any) -> str:
    """The message of the VocabularyError that loading ``source`` raises, file paths made
    relative to the file's folder."""
    with pytest.raises(VocabularyError) as info:
        load_vocabulary(source, **kwargs)
    message = str(info.value)
    assert "\n" not in message  # the CLI prints it as one line
    return message.replace(f"{Path(source).parent}/", "") if isinstance(source, Path) else message


# -- raw names are kept as the source spells them ------------------------------------------
def test_txt_keeps_the_raw_name_with_its_spaces(tmp_vocab_file: MakeFile) -> None:
    vocab = load_vocabulary(tmp_vocab_file("s.txt", "o \n  leading\ttab\t\nplain\n"))
    assert vocab.names == ("o ", "  leading\ttab\t", "plain")
    assert vocab.clean_names == ("o", "leading tab", "plain")
    assert vocab.find("o").index == 0


def test_duplicates_after_trimming_show_both_raw_names_and_lines(tmp_vocab_file: MakeFile) -> None:
    message = _error(tmp_vocab_file("o.txt", "o\nx\no \n"))
    assert message.startswith("o.txt:3: duplicate label name 'o': 'o' (line 1) and 'o ' (line 3)")
    assert "on_duplicate='disambiguate'" in message and "--on-duplicate disambiguate" in message
    vocab = load_vocabulary(tmp_vocab_file("o.txt", "o\nx\no \n"), on_duplicate="disambiguate")
    assert vocab.names == ("o", "x", "o ")
    assert vocab.clean_names == ("o", "x", "o (2)")


# -- every problem of a vocabulary in one error --------------------------------------------
def test_every_problem_of_a_txt_file_is_reported_at_once(tmp_vocab_file: MakeFile) -> None:
    path = tmp_vocab_file("three.txt", "cat\n  \nDog\ndog\n# note\n\nbird\n")
    message = _error(path)
    assert message.startswith("three.txt: 3 problems: (1) three.txt:2: empty or whitespace-only")
    assert "(2) three.txt:4: duplicate label name 'dog': 'Dog' (line 3) and 'dog' (line 4)" in (
        message
    )
    assert "(3) three.txt:6: empty or whitespace-only label name ''" in message
    assert "--on-blank skip" in message and "--on-duplicate disambiguate" in message
    # with both policies the same file loads, ids kept
    vocab = load_vocabulary(path, on_blank="skip", on_duplicate="disambiguate")
    assert vocab.names == ("cat", "Dog", "dog", "bird")
    assert vocab.ids == (1, 3, 4, 6)
    assert vocab.clean_names == ("cat", "dog", "dog (2)", "bird")


def test_every_problem_of_a_json_file_is_reported_in_file_order(tmp_vocab_file: MakeFile) -> None:
    records = [
        {"id": 0, "name": ""},
        {"id": 1, "name": "cat"},
        {"id": 1, "name": "dog"},
        {"id": 2},
        {"id": "x", "name": "bird"},
        {"id": 3, "name": 5},
        {"id": 4, "name": "Cat"},
    ]
    message = _error(tmp_vocab_file("r.json", json.dumps(records)))
    assert message.startswith("r.json: 6 problems: ")
    expected = [
        "(1) r.json: category 0: empty or whitespace-only label name ''",
        "(2) r.json: category 2: category id 1 is used by both 'cat' (category 1) and 'dog'",
        "(3) r.json: category 3: missing 'name'",
        "(4) r.json: category 4: category id must be an integer, got 'x'",
        "(5) r.json: category 5: a label name must be a string, got int 5",
        "(6) r.json: category 6: duplicate label name 'cat'",
    ]
    positions = [message.index(part) for part in expected]
    assert positions == sorted(positions)


def test_every_problem_of_a_csv_file(tmp_vocab_file: MakeFile) -> None:
    message = _error(tmp_vocab_file("t.csv", "id,name\n1,cat\nx,dog\n3,\n,bird\n5,Cat\n"))
    assert message.startswith("t.csv: 4 problems: (1) t.csv:3: category id must be an integer")
    for part in ["t.csv:4: empty", "t.csv:5: no 'id'", "t.csv:6: duplicate label name 'cat'"]:
        assert part in message


def test_a_long_list_of_problems_is_capped(tmp_vocab_file: MakeFile) -> None:
    from scaledet_labels.vocab.sources import MAX_REPORTED_PROBLEMS

    lines = [f"name{i}" if i % 2 == 0 else "" for i in range(61)]
    message = _error(tmp_vocab_file("many.txt", "\n".join(lines) + "\n"))
    assert message.startswith("many.txt: 30 problems: (1) many.txt:2: ")
    assert f"({MAX_REPORTED_PROBLEMS}) many.txt:40: " in message
    assert f"({MAX_REPORTED_PROBLEMS + 1})" not in message
    assert f"and {30 - MAX_REPORTED_PROBLEMS} more." in message


def test_every_problem_of_a_python_list_and_an_inline_list() -> None:
    assert _error(["cat", "", "Cat", " "]).startswith("<list>: 3 problems: (1) <list>: item 1")
    message = _error("cat, , dog, , Dog")
    assert message.startswith("inline vocabulary 'cat, , dog, , Dog': 3 problems: ")
    assert "item 4: duplicate label name 'dog'" in message
