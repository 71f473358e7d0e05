"""Tasks: deterministic draws, rebuilds from a TaskRef, and every refusal with its reason."""

from __future__ import annotations

import hashlib
import time
from collections import Counter

import pytest

from node.config import TaskFamilyConfig, TasksConfig
from node.tasks import TaskError, TaskSource, build_task_source, draw_point, open_items, register_generator
from node.tasks.base import DATASET_CACHE_SIZE
from protocol.messages import TaskRef

CHAIN = {"min_terms": 2, "max_terms": 2, "min_digits": 1, "max_digits": 1}


@pytest.fixture
def source() -> TaskSource:
    return build_task_source(TasksConfig(dataset_seed=3, dataset_size=1000, accept_generators=["*"]))


def test_by_default_only_the_nodes_own_families_are_rebuilt() -> None:
    own = build_task_source(TasksConfig(dataset_seed=3, dataset_size=1000))
    assert own.rebuild(own.draw("peer-a", 0, 1)[0].ref).answer
    with pytest.raises(TaskError) as err:
        own.rebuild(TaskRef("futoshiki", {}, 3, 0))  # some items take seconds to build
    assert err.value.reason == "not_accepted"


def test_draw_is_deterministic_and_rebuildable(source: TaskSource) -> None:
    first = source.draw("peer-a", 5, 4)
    assert first == build_task_source(TasksConfig(dataset_seed=3, dataset_size=1000)).draw("peer-a", 5, 4)
    assert [source.rebuild(t.ref) for t in first] == first
    assert all(0 <= t.ref.index < 1000 and t.ref.seed == 3 for t in first)
    assert first != source.draw("peer-b", 5, 4) and first != source.draw("peer-a", 6, 4)


def test_draw_uses_sha256_not_python_hash() -> None:
    # Python's hash() of a str changes with PYTHONHASHSEED; the draw must be the same on every node
    digest = hashlib.sha256(b"sapo-task|0|peer-a|0|0").digest()
    expected = (int.from_bytes(digest[:8], "big") / 2**64, int.from_bytes(digest[8:16], "big"))
    assert draw_point(0, "peer-a", 0, 0) == expected


def test_question_is_the_generators_text(source: TaskSource) -> None:
    import reasoning_gym

    task = source.draw("peer-a", 0, 1)[0]
    entry = reasoning_gym.create_dataset("chain_sum", **CHAIN, seed=3, size=1000)[task.ref.index]
    assert (task.question, task.answer) == (entry["question"], entry["answer"])


def test_families_follow_weights() -> None:
    families = [TaskFamilyConfig(name="chain_sum", config=CHAIN, weight=3.0),
                TaskFamilyConfig(name="basic_arithmetic", config={}, weight=1.0)]
    drawn = TaskSource(TasksConfig(families=families)).draw_refs("peer-a", 0, 400)
    share = Counter(ref.generator for ref in drawn)["chain_sum"] / 400
    assert 0.68 < share < 0.82


@pytest.mark.parametrize(("ref", "reason"), [
    (TaskRef("no_such_generator", {}, 3, 0), "unknown_generator"),
    (TaskRef("acre", {}, 3, 0), "unsupported_generator"),
    (TaskRef("chain_sum", CHAIN, 3, 1000), "index_out_of_range"),
    (TaskRef("chain_sum", CHAIN, 3, -1), "index_out_of_range"),
    (TaskRef("chain_sum", {"no_such_field": 1}, 3, 0), "bad_config"),
    (TaskRef("chain_sum", {"min_terms": 3, "max_terms": 2}, 3, 0), "bad_config"),
    (TaskRef("chain_sum", {"max_digits": 10**9}, 3, 0), "bad_config"),
    (TaskRef("chain_sum", {"max_terms": [1, 2]}, 3, 0), "bad_config"),
    (TaskRef("chain_sum", {"size": 5}, 3, 0), "bad_config"),
    (TaskRef("chain_sum", {f"k{i}": 1 for i in range(17)}, 3, 0), "bad_config"),
    (TaskRef("chain_sum", CHAIN, 4, 0), "seed_mismatch"),
    (TaskRef("chain_sum", CHAIN, 3, 0, kind="free"), "free_text"),
])
def test_rebuild_refusals(source: TaskSource, ref: TaskRef, reason: str) -> None:
    with pytest.raises(TaskError) as caught:
        source.rebuild(ref)
    assert caught.value.reason == reason


def test_accepted_generators_restrict_rebuild() -> None:
    source = TaskSource(TasksConfig(), accepted={"chain_sum"})
    with pytest.raises(TaskError, match="not_accepted"):
        source.rebuild(TaskRef("basic_arithmetic", {}, 0, 0))


def test_bad_local_family_fails_at_construction() -> None:
    with pytest.raises(TaskError, match="bad_config"):
        TaskSource(TasksConfig(families=[TaskFamilyConfig(name="chain_sum", config={"min_terms": 0})]))


def test_huge_dataset_size_costs_nothing() -> None:
    source = TaskSource(TasksConfig(dataset_size=2**31))
    start = time.perf_counter()
    task = source.rebuild(TaskRef("chain_sum", CHAIN, 0, 2**31 - 2))
    assert task.answer and time.perf_counter() - start < 0.5
    assert open_items.cache_info().maxsize == DATASET_CACHE_SIZE


def test_registered_generator_is_rebuildable() -> None:
    class Echo:
        def __len__(self) -> int:
            return 10

        def __getitem__(self, index: int) -> dict:
            return {"question": f"echo {index}", "answer": str(index), "metadata": {}}

        def score_answer(self, answer: str | None, entry: dict) -> float:
            return float(answer == entry["answer"])

    register_generator("echo", lambda name, config, seed: Echo())
    source = TaskSource(TasksConfig(families=[TaskFamilyConfig(name="echo")], dataset_size=100))
    assert source.rebuild(TaskRef("echo", {}, 0, 7)).question == "echo 7"
    with pytest.raises(TaskError, match="index_out_of_range"):
        source.rebuild(TaskRef("echo", {}, 0, 10))  # the generator's own length bounds indices too
