"""eov.scoring sits below the heads and the evaluation package; the metric and the
scoreboard do not import each other (no private names across modules: see
tests/test_import_contract.py)."""
import grimp
import pytest

#: What eov.scoring may import from eov (besides itself).
ALLOWED = ('eov.registry', 'eov.utils', 'eov.slis.geometry')


@pytest.fixture(scope='module')
def graph():
    return grimp.build_graph('eov')


def test_scoring_imports_nothing_above_it(graph):
    upstream = graph.find_upstream_modules('eov.scoring', as_package=True)
    above = sorted(m for m in upstream
                   if not any(m == a or m.startswith(a + '.') for a in ALLOWED))
    assert not above, f'eov.scoring imports {above}'


def test_benchmarks_and_the_task_heads_score_through_eov_scoring(graph):
    # the task metric scores through the heads, which score through eov.scoring
    for importer in ('eov.heads', 'eov.evaluation.benchmarks.dota',
                     'eov.evaluation.benchmarks.levircc'):
        assert graph.direct_import_exists(importer=importer, imported='eov.scoring',
                                          as_packages=True), importer
    for importer in ('eov.evaluation.metrics.tasks', 'eov.heads'):
        assert graph.find_shortest_chain(importer=importer,
                                         imported='eov.evaluation.benchmarks') is None


def test_the_metric_does_not_import_the_scoreboard(graph):
    assert graph.find_shortest_chain(importer='eov.evaluation.metrics.tasks',
                                     imported='eov.evaluation.scoreboard') is None
