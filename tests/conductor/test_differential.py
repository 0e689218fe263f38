"""The differential conformance suite: every scripted interaction of
:mod:`tests.conductor.differential` sent to the local engine and to the real Conductor OSS
server (the ``oss_server`` fixture: one per session, skipped with its reason where no Java 21+
or no Maven Central can be had), compared after normalisation. Equal, or listed in DELIBERATE
with the reason."""

import json
from concurrent.futures import ThreadPoolExecutor

import differential
import pytest


@pytest.fixture(scope="module")
def observed(local_server, oss_server):
    """Both servers' observations, the scenarios played against both at once."""
    with ThreadPoolExecutor(2) as pool:
        local, oss = pool.map(differential.run, [local_server.url, oss_server.url])
    return local, oss


def test_readme_differential_table_is_current():
    """README.md's differential table is the suite's (rewrite it with
    ``python tests/conductor/conformance.py``)."""
    import conformance

    assert conformance.readme_differential_table(conformance.README.read_text()) == differential.table(), (
        "README.md's differential table is stale: run `python tests/conductor/conformance.py`"
    )


def test_the_suite_is_large_enough():
    assert len(differential.INTERACTIONS) >= 150
    assert set(differential.DELIBERATE) <= set(differential.INTERACTIONS)


@pytest.mark.parametrize("interaction", sorted(differential.INTERACTIONS))
def test_both_servers_answer_alike(observed, interaction):
    local, oss = observed
    assert interaction in local and interaction in oss
    same = local[interaction] == oss[interaction]
    if interaction in differential.DELIBERATE:
        assert not same, f"{interaction} is listed as deliberate but is the same on both now: drop it from DELIBERATE"
    else:
        assert same, (
            f"{interaction} ({differential.INTERACTIONS[interaction][1]}):\n"
            f"local: {json.dumps(local[interaction], sort_keys=True)}\n"
            f"oss:   {json.dumps(oss[interaction], sort_keys=True)}"
        )
