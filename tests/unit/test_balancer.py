"""The round-robin balancer as tables: order, reshuffle, affinity, pruning."""
from __future__ import annotations

import pytest

from emunet.proxy.balancer import Balancer, ServicePortName

SPN = ServicePortName("default", "my-nginx", "http", "TCP")
A, B, C = ("127.244.1.2", 80), ("127.244.1.3", 80), ("127.244.2.2", 80)


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def no_shuffle(lst: list) -> None:
    pass


def reverse(lst: list) -> None:
    lst.reverse()


@pytest.mark.parametrize("endpoints,picks", [
    ([A], [A, A, A]),
    ([A, B], [A, B, A, B]),
    ([A, B, C], [A, B, C, A, B, C]),
    ([], [None, None]),
])
def test_round_robin_order(endpoints, picks):
    b = Balancer(shuffle=no_shuffle)
    b.update(SPN, endpoints)
    assert [b.next(SPN) for _ in picks] == picks


def test_unknown_key_has_no_endpoint():
    assert Balancer().next(SPN, "1.2.3.4") is None


def test_new_endpoint_list_is_shuffled_and_index_reset():
    b = Balancer(shuffle=reverse)
    b.update(SPN, [A, B])
    assert b.next(SPN) == B  # reversed by the injected shuffle
    b.update(SPN, [A, B, C])
    assert [b.next(SPN) for _ in range(3)] == [C, B, A]  # index back at 0


def test_same_endpoint_set_keeps_position():
    b = Balancer(shuffle=no_shuffle)
    b.update(SPN, [A, B, C])
    assert b.next(SPN) == A
    b.update(SPN, [C, B, A])  # same set, other order: no reshuffle, no reset
    assert b.next(SPN) == B


def test_deleted_endpoint_leaves_rotation():
    b = Balancer(shuffle=no_shuffle)
    b.update(SPN, [A, B])
    b.update(SPN, [B])
    assert {b.next(SPN) for _ in range(4)} == {B}


def test_client_ip_affinity_sticks_until_timeout():
    clock = Clock()
    b = Balancer(clock=clock, shuffle=no_shuffle)
    b.set_affinity(SPN, 10)
    b.update(SPN, [A, B, C])
    first = b.next(SPN, "127.0.0.1")
    assert [b.next(SPN, "127.0.0.1") for _ in range(5)] == [first] * 5
    other = b.next(SPN, "127.0.0.2")
    assert other != first
    clock.t += 9.9  # each use refreshes the entry
    assert b.next(SPN, "127.0.0.1") == first
    clock.t += 10.0
    assert b.next(SPN, "127.0.0.1") != first or len(b.endpoints(SPN)) == 1


def test_affinity_reset_after_failed_dial_moves_on():
    b = Balancer(shuffle=no_shuffle)
    b.set_affinity(SPN, 100)
    b.update(SPN, [A, B])
    first = b.next(SPN, "127.0.0.1")
    second = b.next(SPN, "127.0.0.1", reset_affinity=True)
    assert second != first
    assert b.next(SPN, "127.0.0.1") == second


def test_affinity_of_gone_endpoint_is_pruned():
    b = Balancer(shuffle=no_shuffle)
    b.set_affinity(SPN, 100)
    b.update(SPN, [A, B])
    assert b.next(SPN, "127.0.0.1") == A
    b.update(SPN, [B, C])
    assert b.next(SPN, "127.0.0.1") in (B, C)


def test_prune_drops_expired_affinity():
    clock = Clock()
    b = Balancer(clock=clock, shuffle=no_shuffle)
    b.set_affinity(SPN, 10)
    b.update(SPN, [A, B])
    b.next(SPN, "127.0.0.1")
    b.next(SPN, "127.0.0.2")
    assert b.prune() == 0
    clock.t += 10
    assert b.prune() == 2


def test_turning_affinity_off_round_robins_again():
    b = Balancer(shuffle=no_shuffle)
    b.set_affinity(SPN, 100)
    b.update(SPN, [A, B])
    b.next(SPN, "127.0.0.1")
    b.set_affinity(SPN, 0)
    assert [b.next(SPN, "127.0.0.1") for _ in range(2)] == [B, A]
