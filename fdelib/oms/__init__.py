"""Project 3: an order-management system as a saga on Conductor.

Five services (:mod:`.services`: order acknowledgement, payment, stock and inventory,
delivery scheduling, notification), their Conductor workers (:mod:`.workers`), the order
workflow and its compensation written with conductor-python's DSL (:mod:`.workflow`),
the shop's data and the checks that prove the books balance (:mod:`.orders`), the same
saga as choreography — services reacting to each other's events (:mod:`.choreography`) —
and the services' boundaries read off the code, with one service upgraded while orders flow
(:mod:`.contexts`, :mod:`.payment_v2`).
"""

from .orders import (
    audit,
    fault_explorer,
    make_orders,
    outcomes,
    run_orders,
    seed,
    settlement,
    setup,
    stop_running,
    try_fault,
)

__all__ = [
    "audit",
    "fault_explorer",
    "make_orders",
    "outcomes",
    "run_orders",
    "seed",
    "settlement",
    "setup",
    "stop_running",
    "try_fault",
]
