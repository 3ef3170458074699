"""Ensembles of networks: several trainings of one model, their probabilities averaged.

On corpora of a few hundred utterances a network's UAR moves by several points
from one random initialisation to the next; averaging the class probabilities of
``K`` networks trained from different initial weights on differently shuffled
batches removes much of that variance (``training.ensemble``). Member 0 is exactly
the single network of ``ensemble: 1`` (the run's initial weights and seed); member
``k`` starts from weights drawn anew with seed ``seed + 1000 k`` and sees batches
shuffled with that seed.

The members are joined into one Keras model whose output is the mean of theirs,
so an ensemble is saved, loaded, evaluated and used for prediction like a single
network.
"""

from __future__ import annotations

import keras
from keras import layers

ENSEMBLE_SEED_STEP = 1000  # member k trains with seed + 1000 k
MEMBER_PREFIX = "member_"


def member_seed(seed: int, member: int) -> int:
    """The seed member ``member`` of an ensemble trains with (member 0: ``seed``)."""
    return seed + ENSEMBLE_SEED_STEP * member


def member_initial_model(
    initial_model: keras.Model, seed: int, member: int
) -> keras.Model:
    """Initial weights of ``member``: the run's for member 0, drawn anew otherwise.

    Member ``k > 0`` gets the architecture of ``initial_model`` with weights drawn
    by its layers' initialisers under seed :func:`member_seed`; the input model is
    left untouched.
    """
    if member == 0:
        return initial_model
    keras.utils.set_random_seed(member_seed(seed, member))
    return keras.models.clone_model(initial_model)  # fresh initialisers, new weights


def ensemble_members(model: keras.Model) -> list[keras.Model]:
    """The member networks of an ensemble made by :func:`average_of`, or ``[model]``."""
    members = [
        layer
        for layer in model.layers
        if isinstance(layer, keras.Model) and layer.name.startswith(MEMBER_PREFIX)
    ]
    return members or [model]


def _inputs_like(model: keras.Model) -> list[keras.KerasTensor]:
    return [
        keras.Input(
            shape=tensor.shape[1:], dtype=tensor.dtype, name=tensor.name.split(":")[0]
        )
        for tensor in model.inputs
    ]


def _single_or_list(inputs: list[keras.KerasTensor]) -> object:
    """How a model built on these inputs expects them: one tensor or a list."""
    return inputs[0] if len(inputs) == 1 else inputs


def average_of(members: list[keras.Model]) -> keras.Model:
    """One model whose output is the mean of the members' class probabilities.

    A single member is returned as it is. The members keep their weights; they are
    renamed ``member_0``, ``member_1``, … inside the ensemble.

    Raises:
        ValueError: If no member is given or the members' inputs differ.
    """
    if not members:
        raise ValueError("an ensemble needs at least one member")
    if len(members) == 1:
        return members[0]
    names = [[t.name.split(":")[0] for t in m.inputs] for m in members]
    if any(n != names[0] for n in names):
        raise ValueError(f"ensemble members take different inputs: {names}")
    inputs = _inputs_like(members[0])
    outputs = []
    for k, member in enumerate(members):
        member.name = f"{MEMBER_PREFIX}{k}"
        outputs.append(member(_single_or_list(inputs)))
    averaged = layers.Average(name="ensemble_mean")(outputs)
    return keras.Model(inputs, averaged, name=f"ensemble_of_{len(members)}")


def embedding_model(model: keras.Model) -> keras.Model:
    """The model up to its last hidden layer (the input of the softmax layer).

    For an ensemble, the members' last hidden layers side by side.
    """
    members = ensemble_members(model)
    if members == [model]:
        return keras.Model(
            model.inputs, model.get_layer("emotion").input, name="embedding"
        )
    inputs = _inputs_like(model)
    parts = [
        keras.Model(
            member.inputs,
            member.get_layer("emotion").input,
            name=f"{member.name}_embedding",
        )(_single_or_list(inputs))
        for member in members
    ]
    return keras.Model(
        inputs, layers.Concatenate(name="members_embedding")(parts), name="embedding"
    )
