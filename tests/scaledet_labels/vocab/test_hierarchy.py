"""WordNet and OpenImages hierarchies: the shipped graph, label parents and ancestors."""

from __future__ import annotations

import pytest

from scaledet_labels import LabelSpace, Vocabulary, VocabularyError, load_vocabulary
from scaledet_labels.vocab.hierarchy import (
    WordNetHierarchy,
    label_ancestors,
    label_parents,
    oid_hierarchy,
    wordnet_hierarchy,
)
from scaledet_labels.vocab.vocabulary import make_label


# -- the shipped WordNet graph ------------------------------------------------------------
def test_graph_is_closed_acyclic_and_rooted() -> None:
    wordnet = wordnet_hierarchy()
    assert len(wordnet) == 23800
    synsets = wordnet.synsets
    assert list(synsets) == sorted(synsets)
    roots = [s for s in synsets if not wordnet.parents(s)]
    assert roots == ["entity.n.01"]
    for synset in synsets:
        parents = wordnet.parents(synset)
        assert all(parent in wordnet for parent in parents)
        ancestors = wordnet.ancestors(synset)
        assert synset not in ancestors  # no cycles
        assert len(set(ancestors)) == len(ancestors)
        if synset != "entity.n.01":
            assert ancestors[-1] == "entity.n.01"
    assert sum(len(wordnet.parents(s)) > 1 for s in synsets) == 503


def test_every_label_synset_is_in_the_graph() -> None:
    wordnet = wordnet_hierarchy()
    lvis = {label.synset for label in load_vocabulary("lvis")}
    assert lvis - set(wordnet.synsets) == {"stop_sign.n.01"}  # not a WordNet 3.0 synset
    assert wordnet.provenance["not_in_wordnet"] == ["stop_sign.n.01"]
    for name in ("imagenet21k", "coco"):
        synsets = {label.synset for label in load_vocabulary(name) if label.synset}
        assert synsets - {"stop_sign.n.01"} <= set(wordnet.synsets), name


def test_dog_parents_and_ancestors() -> None:
    wordnet = wordnet_hierarchy()
    assert wordnet.parents("dog.n.01") == ("canine.n.02", "domestic_animal.n.01")
    ancestors = wordnet.ancestors("dog.n.01")
    assert ancestors == (
        "canine.n.02",
        "domestic_animal.n.01",
        "carnivore.n.01",
        "placental.n.01",
        "mammal.n.01",
        "vertebrate.n.01",
        "chordate.n.01",
        "animal.n.01",  # after chordate.n.01, one of its hyponyms, though also a grandparent
        "organism.n.01",
        "living_thing.n.01",
        "whole.n.02",
        "object.n.01",
        "physical_entity.n.01",
        "entity.n.01",
    )
    assert wordnet.ancestors("entity.n.01") == ()


def test_ancestors_come_after_all_their_descendants() -> None:
    wordnet = wordnet_hierarchy()
    for synset in wordnet.synsets[::50]:
        ancestors = wordnet.ancestors(synset)
        position = {name: i for i, name in enumerate(ancestors)}
        for name in ancestors:
            for parent in wordnet.parents(name):
                assert position[parent] > position[name], (synset, name, parent)


def test_instance_hypernyms_are_parents() -> None:
    # some synsets are instances (one particular thing) whose only parent is a class
    wordnet = wordnet_hierarchy()
    in21k = load_vocabulary("imagenet21k")
    orphans = [label for label in in21k if not in21k.parents(label)]
    assert orphans == []  # entity.n.01 is not an ImageNet-21k class
    assert wordnet.parents("sun.n.01") == ("star.n.01",)  # an instance hypernym


def test_unknown_synset_is_a_clear_error() -> None:
    wordnet = wordnet_hierarchy()
    with pytest.raises(VocabularyError, match=r"'dgo\.n\.01' is not in the WordNet hierarchy"):
        wordnet.parents("dgo.n.01")
    with pytest.raises(ValueError, match=r"such as 'dog\.n\.01'"):
        wordnet.ancestors("dog")


def test_small_hierarchy_object() -> None:
    tiny = WordNetHierarchy(["a.n.01", "b.n.01", "c.n.01", "d.n.01"], [[], [0], [0], [1, 2]])
    assert tiny.parents("d.n.01") == ("b.n.01", "c.n.01")
    assert tiny.ancestors("d.n.01") == ("b.n.01", "c.n.01", "a.n.01")  # a once
    assert repr(tiny) == "WordNetHierarchy(4 synsets)"
    with pytest.raises(VocabularyError, match="one parent list per synset"):
        WordNetHierarchy(["a.n.01"], [])


# -- labels -------------------------------------------------------------------------------
def test_lvis_dog_ancestors_include_canine_and_animal() -> None:
    lvis = load_vocabulary("lvis")
    dog = lvis.find("dog")
    assert dog.synset == "dog.n.01"
    assert lvis.parents("dog") == ("canine.n.02", "domestic_animal.n.01")
    ancestors = lvis.ancestors(dog)
    assert "canine.n.02" in ancestors and "animal.n.01" in ancestors
    assert ancestors == wordnet_hierarchy().ancestors("dog.n.01")
    assert label_ancestors(dog) == ancestors and label_parents(dog) == lvis.parents(dog)
    # LVIS's stop sign has a synset that WordNet 3.0 lacks: no ancestors
    assert lvis.ancestors("stop sign") == ()


def test_imagenet21k_and_coco_ancestors() -> None:
    in21k = load_vocabulary("imagenet21k")
    assert "canine.n.02" in in21k.ancestors("dog")
    assert in21k.parents(in21k[0]) == wordnet_hierarchy().parents("organism.n.01")
    coco = load_vocabulary("coco")
    assert "animal.n.01" in coco.ancestors("dog")
    assert coco.ancestors("sports ball") == ()  # no synset


def test_openimages_labels_use_the_oid_hierarchy() -> None:
    oid = load_vocabulary("oid")
    tortoise = oid.find("Tortoise")
    names = {label.metadata["mid"]: label.name for label in oid}
    assert [names[m] for m in oid.parents(tortoise)] == ["Turtle"]
    assert [names[m] for m in oid.ancestors(tortoise)] == ["Turtle", "Reptile", "Animal"]
    assert oid.parents(tortoise) == tuple(tortoise.metadata["parents"])
    assert "/m/0bl9f" not in oid.ancestors("Human face")  # the root is not a class
    # oid500 labels carry only their MID: the hierarchy comes from the 601-class tree
    oid500 = load_vocabulary("oid500")
    assert [names[m] for m in oid500.ancestors("Tortoise")] == ["Turtle", "Reptile", "Animal"]
    assert oid.ancestors("Tortoise", hierarchy="wordnet") == ()
    assert set(oid_hierarchy()) == set(names)


def test_hierarchy_choice() -> None:
    both = make_label(0, "dog", metadata={"synset": "dog.n.01", "mid": "/m/0bt9lr"})
    assert label_parents(both) == ("canine.n.02", "domestic_animal.n.01")
    assert label_parents(both, "openimages") == tuple(oid_hierarchy()["/m/0bt9lr"]["parents"])
    assert label_parents(make_label(0, "thing")) == ()
    unknown = make_label(0, "x", metadata={"synset": "zzz.n.01", "mid": "/m/nothing"})
    assert label_ancestors(unknown) == ()
    with pytest.raises(VocabularyError, match=r"hierarchy='tree' is not one of"):
        label_parents(both, "tree")  # type: ignore[arg-type]


def test_user_vocabulary_with_synsets() -> None:
    vocab = load_vocabulary([{"name": "hound", "synset": "dog.n.01"}, {"name": "rock"}])
    assert vocab.find("hound").synset == "dog.n.01"
    assert "animal.n.01" in vocab.ancestors("hound")
    assert vocab.ancestors("rock") == ()
    assert vocab[1].synset is None
    with pytest.raises(VocabularyError, match="no label named 'cat'"):
        vocab.parents("cat")
    assert isinstance(vocab, Vocabulary)


# -- the label space ----------------------------------------------------------------------
def test_label_space_parents_and_ancestors() -> None:
    space = LabelSpace.union(["coco", "lvis", "oid"])
    dog = space.find("dog", "lvis")
    assert space.parents(dog) == ("canine.n.02", "domestic_animal.n.01")
    assert space.ancestors(dog.index) == space.ancestors("dog", "lvis")
    assert "animal.n.01" in space.ancestors("dog", "coco")
    tortoise = space.find("Tortoise", "oid")
    assert len(space.ancestors(tortoise)) == 3
    with pytest.raises(ValueError, match="out of range"):
        space.parents(len(space))
    with pytest.raises(ValueError, match="several datasets"):
        space.parents("dog")
    with pytest.raises(ValueError, match="expected a unified index"):
        space.parents(1.5)  # type: ignore[arg-type]


def test_merged_label_has_the_hierarchy_of_every_source() -> None:
    mine = load_vocabulary([{"name": "hound", "synset": "dog.n.01"}], name="mine")
    space = LabelSpace.union(["oid", mine], merge={"oid:Dog": "mine:hound"})
    merged = space.find("hound", "mine")
    parents = space.parents(merged)
    oid_dog = space.vocabulary("oid").find("Dog")
    assert parents == (*oid_dog.metadata["parents"], "canine.n.02", "domestic_animal.n.01")
