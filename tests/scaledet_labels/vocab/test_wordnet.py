"""WordNet 3.0 nouns at run time (``scaledet_labels.vocab.wordnet``): the packaged data,
name lookup with nltk's folding (case, separators, hyphen joints, qualifiers, plurals),
``morphy`` with ``noun.exc``, hypernym ancestors and the relation of two synsets."""

from __future__ import annotations

import doctest

import pytest

from scaledet_labels.vocab import wordnet
from scaledet_labels.vocab.wordnet import ancestors, lookup, morphy, nouns, relation


# -- the packaged data -----------------------------------------------------------------------
def test_nouns_are_wordnet_30_and_loaded_once() -> None:
    data = nouns()
    assert nouns() is data  # cached
    assert len(data.synsets) == 82115  # WordNet 3.0 noun synsets
    n = len(data.synsets)
    assert len(data.lemmas) == len(data.parents) == len(data.holonyms) == n
    assert len(data.position) == n
    assert all(data.position[name] == i for i, name in enumerate(data.synsets[:500]))
    dog = data.position["dog.n.01"]
    assert data.lemmas[dog] == ("dog", "domestic_dog", "Canis_familiaris")
    assert {data.synsets[i] for i in data.parents[dog]} == {
        "canine.n.02",
        "domestic_animal.n.01",
    }
    assert {data.synsets[i] for i in data.holonyms[data.position["wheel.n.01"]]} == {
        "wheeled_vehicle.n.01"
    }
    # the index is in WordNet's sense order and points at valid synsets
    assert data.synsets[data.index["dog"][0]] == "dog.n.01"
    assert all(0 <= i < n for i in data.index["bow"])
    assert data.exceptions["geese"] == ("goose",)


def test_module_doctests() -> None:
    assert doctest.testmod(wordnet).failed == 0


# -- morphy ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("word", "forms"),
    [
        ("geese", ("goose",)),  # noun.exc
        ("mice", ("mouse",)),  # noun.exc
        ("children", ("child",)),  # noun.exc
        ("Geese", ("goose",)),  # case folded first
        ("dogs", ("dog",)),  # -s
        ("boxes", ("box",)),  # -xes
        ("churches", ("church",)),  # -ches
        ("women", ("woman",)),  # -men
        ("dog", ("dog",)),  # already a lemma
        ("glasses", ("glasses", "glass")),  # a lemma itself first, then its base
    ],
)
def test_morphy(word: str, forms: tuple[str, ...]) -> None:
    assert morphy(word) == forms


@pytest.mark.parametrize("word", ["xyzzy", "xyzzies", "", "s"])
def test_morphy_of_a_non_noun_is_empty_or_itself(word: str) -> None:
    forms = morphy(word)
    # only lemmas come back; "s" is a WordNet noun (the letter), the others are not
    assert forms == (("s",) if word == "s" else ())


# -- lookup ---------------------------------------------------------------------------------
def test_lookup_folds_plurals_and_keeps_sense_order() -> None:
    dogs = lookup("dogs")
    assert dogs[0] == "dog.n.01"  # the most frequent sense first
    assert dogs == lookup("dog") == lookup("Dogs") == lookup("DOGS")
    assert "frump.n.01" in dogs and len(set(dogs)) == len(dogs)
    assert lookup("geese")[0] == "goose.n.01"
    assert lookup("children")[0] == "child.n.01"


@pytest.mark.parametrize(
    "name",
    [
        "Tennis rackets",
        "tennis racket",
        "tennis_racket",
        "tennis_rackets",
        "TENNIS-RACKETS",
        "  Tennis   racket ",
    ],
)
def test_lookup_folds_case_separators_and_plurals(name: str) -> None:
    assert lookup(name) == ("tennis_racket.n.01",)


@pytest.mark.parametrize(
    ("name", "first"),
    [
        ("table tennis table", "table-tennis_table.n.01"),  # a hyphen joint inside
        ("table tennis tables", "table-tennis_table.n.01"),
        ("ping pong ball", "ping-pong_ball.n.01"),
        ("hot dog", "hotdog.n.01"),  # no joint at all
        ("hot-dogs", "hotdog.n.01"),
        ("wine glass", "wineglass.n.01"),
        ("jack in the box", "jack-in-the-box.n.01"),
        ("Teddy bears", "teddy.n.01"),
        ("cell phones", "cellular_telephone.n.01"),
    ],
)
def test_lookup_tries_every_joint(name: str, first: str) -> None:
    assert lookup(name)[0] == first


def test_lookup_drops_a_parenthesised_qualifier() -> None:
    bows = lookup("bow (weapon)")
    assert bows == lookup("bow")
    assert "bow.n.04" in bows  # the weapon sense
    assert all(s.startswith("bow.n.") for s in bows) and len(bows) >= 4
    assert lookup("bow [weapon]") == bows
    assert lookup("bow_(weapon)") == bows


@pytest.mark.parametrize(
    "name", ["xyzzy", "sports balls", "table tennis racket", "", "   ", "(weapon)", "a b c d e"]
)
def test_lookup_of_an_unknown_noun_is_empty(name: str) -> None:
    # "table tennis racket": WordNet spells it table-tennis_racquet
    assert lookup(name) == ()


# -- ancestors ------------------------------------------------------------------------------
def test_ancestors_of_dog() -> None:
    found = ancestors("dog.n.01")
    assert isinstance(found, frozenset)
    assert {"canine.n.02", "carnivore.n.01", "animal.n.01", "entity.n.01"} <= found
    assert "domestic_animal.n.01" in found  # both hypernym paths
    assert "dog.n.01" not in found  # not its own ancestor
    assert "cat.n.01" not in found and "feline.n.01" not in found
    assert ancestors("entity.n.01") == frozenset()  # the root


def test_ancestors_are_transitive() -> None:
    found = ancestors("dalmatian.n.02")
    assert "dog.n.01" in found
    assert ancestors("dog.n.01") <= found


@pytest.mark.parametrize("name", ["bogus.n.01", "dog", "", "dog.v.01"])
def test_ancestors_of_an_unknown_synset_are_empty(name: str) -> None:
    assert ancestors(name) == frozenset()


# -- relation -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("dog.n.01", "dog.n.01", "same"),
        ("dog.n.01", "canine.n.02", "child"),
        ("canine.n.02", "dog.n.01", "parent"),
        ("dog.n.01", "animal.n.01", "child"),  # any ancestor, not only the parent
        ("animal.n.01", "dog.n.01", "parent"),
        ("dalmatian.n.02", "dog.n.01", "child"),
        ("wheel.n.01", "wheeled_vehicle.n.01", "part"),  # a part meronym
        ("wheeled_vehicle.n.01", "wheel.n.01", "part"),  # either way round
        ("tree.n.01", "forest.n.01", "part"),  # a member meronym
        ("finger.n.01", "hand.n.01", "part"),
        ("dog.n.01", "cat.n.01", None),
        ("car.n.01", "bicycle.n.01", None),
        ("table-tennis_racquet.n.01", "tennis_racket.n.01", None),
    ],
)
def test_relation(a: str, b: str, expected: str | None) -> None:
    assert relation(a, b) == expected


def test_relation_of_parent_and_child_is_antisymmetric() -> None:
    for a, b in [("dog.n.01", "canine.n.02"), ("dalmatian.n.02", "animal.n.01")]:
        assert (relation(a, b), relation(b, a)) == ("child", "parent")


@pytest.mark.parametrize(
    ("a", "b"),
    [("bogus.n.01", "dog.n.01"), ("dog.n.01", "bogus.n.01"), ("dog", "canine.n.02")],
)
def test_relation_with_an_unknown_synset_is_none(a: str, b: str) -> None:
    assert relation(a, b) is None
