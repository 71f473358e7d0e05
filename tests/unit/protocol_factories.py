"""Small builders of valid protocol messages for tests."""

from __future__ import annotations

from protocol import Completion, Identity, PeerAnnouncement, RolloutBatch, RolloutGroup, TaskRef


def make_batch(identity: Identity, *, swarm_id: str = "test", window: int = 170_000_000, groups: int = 2,
               completions: int = 3, text: str = "42", batch_id: str = "b0") -> RolloutBatch:
    return RolloutBatch(
        swarm_id=swarm_id,
        sender=identity.peer_id,
        model="tiny-6m",
        created_at=1_700_000_000.5,
        window=window,
        batch_id=batch_id,
        groups=tuple(
            RolloutGroup(
                task=TaskRef("chain_sum", {"min_terms": 2, "max_terms": 2}, seed=1, index=i),
                question=f"{i} + 1 =",
                completions=tuple(Completion(f"{text}{j}", 2, float(j % 2)) for j in range(completions)),
            )
            for i in range(groups)
        ),
    )


def make_announcement(identity: Identity, swarm_id: str = "test") -> PeerAnnouncement:
    return PeerAnnouncement(identity.peer_id, "tiny-6m", "cpu x2", "0.1.0", ("/ip4/127.0.0.1/tcp/4001",),
                            1_700_000_000.0, swarm_id, 170_000_000)
